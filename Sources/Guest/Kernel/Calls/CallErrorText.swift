// A `CallError` in words, for the monitor's console: each case by name,
// with the value that made it so.

enum CallErrorText {
    static func write(_ error: CallError) {
        switch error {
        case .map(let error): write(error)
        case .unmap(let error):
            switch error {
            case .notMapped(let page, _): sayHex("not mapped: ", page)
            case .parentIsHugePage(let level): say("inside a huge page at level ", UInt64(level), "")
            }
        case .memorySpace(let error):
            switch error {
            case .invalidSize(let pages): say("a reservation of ", pages, " pages is not possible")
            case .outOfAddressSpace(let pages): say("no gap of ", pages, " pages is left in the space")
            case .outOfFrames: Console.write("out of physical memory")
            case .notReserved(let address): sayHex("no reservation starts at ", address)
            case .overlaps(let address): sayHex("the reservation would overlap another at ", address)
            case .map(let error): write(error)
            }
        case .frame(let error):
            switch error {
            case .doubleFree(let frame): sayHex("the frame is free already: ", frame << frameShift)
            case .reservedFrame(let frame): sayHex("the frame is reserved (kernel, boot data or not RAM): ", frame << frameShift)
            case .outOfRange(let frame, _): sayHex("no such frame: ", frame << frameShift)
            }
        case .outOfFrames: Console.write("out of physical memory")
        case .beyondMemory(let address): sayHex("beyond the end of RAM: ", address)
        case .misalignedFrame(let address): sayHex("not the start of a frame: ", address)
        case .nonCanonical(let address): sayHex("not a canonical address: ", address)
        case .misalignedPage(let address): sayHex("not page-aligned: ", address)
        case .kernelPage(let address): sayHex("the kernel's own region, which would break the kernel: ", address)
        case .pageTableFrame(let address): sayHex("the frame holds a live page table: ", address)
        case .noSuchProgram(let index): say("no program number ", index, "")
        case .noSuchTest(let index): say("no test case number ", index, "")
        case .imageRefused: Console.write("not a program image the kernel can load")
        case .unreadable(let address): sayHex("not mapped readable: ", address)
        case .tooMany(let requested, let limit):
            say("", requested, " is more than the limit of ")
            Console.writeDecimal(limit)
        case .kernelFrame(let address):
            sayHex("the frame is the kernel's, which a writable or user mapping would expose: ", address)
        case .memorySpacePage(let address, let reservation):
            sayHex("the page is the test memory space's: ", address)
            sayHex(" in the reservation at ", reservation)
            Console.write(" (release frees it)")
        case .needsSeveralCPUs(let online):
            Console.write("the call needs at least 2 CPUs; online: ")
            Console.writeDecimal(online)
        case .unallocatedFrame(let address):
            sayHex("the frame is free: the allocator could hand it out while mapped; alloc it first: ", address)
        case .frameStillMapped(let address, let virtual, let mappings):
            sayHex("the frame is still mapped: ", address)
            sayHex(" at ", virtual)
            if mappings > 1 { say(" and ", mappings - 1, " more") }
        }
    }

    private static func write(_ error: MapError) {
        switch error {
        case .alreadyMapped(let page, let frame):
            sayHex("already mapped: ", page)
            sayHex(" -> ", frame.address)
        case .frameAllocationFailed: Console.write("out of physical memory for a page table")
        case .parentIsHugePage(let level): say("inside a huge page at level ", UInt64(level), "")
        }
    }

    private static func say(_ before: StaticString, _ value: UInt64, _ after: StaticString) {
        Console.write(before)
        Console.writeDecimal(value)
        Console.write(after)
    }

    private static func sayHex(_ before: StaticString, _ value: UInt64) {
        Console.write(before)
        Console.writeHex(value)
    }
}
