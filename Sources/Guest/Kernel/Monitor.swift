// The kernel monitor: a small command shell on the serial console, for
// poking at the memory manager by hand. Bad input gets a one-line error and
// the monitor keeps running; `quit` or Ctrl-D (end of input) leaves it.

enum Monitor {
    private static let lineCapacity = 120
    private static var line: UnsafeMutablePointer<UInt8>? = nil

    static func run() {
        let buffer = line ?? UnsafeMutablePointer<UInt8>.allocate(capacity: lineCapacity)
        line = buffer
        Console.write("kernel monitor: type help for commands, quit or Ctrl-D to leave\n")
        while true {
            Console.write("monitor> ")
            guard let length = readLine(buffer) else {
                Console.write("\n")
                return
            }
            let words = Words(buffer, length)
            if words.count == 0 { continue }
            if words.is(0, "quit") || words.is(0, "exit") { return }
            execute(words)
        }
    }

    // MARK: - Line editing

    /// Reads one line with echo and backspace; nil at end of input (Ctrl-D).
    private static func readLine(_ buffer: UnsafeMutablePointer<UInt8>) -> Int? {
        var length = 0
        while true {
            let byte = SerialInput.readByte()
            switch byte {
            case 0x04:
                return nil
            case 0x0D, 0x0A:
                Console.write("\n")
                return length
            case 0x03:
                Console.write("^C\n")
                return 0
            case 0x08, 0x7F:
                if length > 0 {
                    length -= 1
                    Console.write("\u{8} \u{8}")
                }
            case 0x20...0x7E:
                if length < lineCapacity {
                    buffer[length] = byte
                    length += 1
                    Console.write(UnsafeRawBufferPointer(start: buffer + length - 1, count: 1))
                }
            default:
                continue
            }
        }
    }

    // MARK: - Commands

    private static func execute(_ words: Words) {
        if words.is(0, "help") { help() }
        else if words.is(0, "mem") { memory() }
        else if words.is(0, "alloc") { allocate(words) }
        else if words.is(0, "free") { free(words) }
        else if words.is(0, "map") { map(words) }
        else if words.is(0, "unmap") { unmap(words) }
        else if words.is(0, "translate") { translate(words) }
        else if words.is(0, "walk") { walk(words) }
        else if words.is(0, "spaces") { spaces() }
        else if words.is(0, "reserve") { reserve(words) }
        else if words.is(0, "release") { release(words) }
        else if words.is(0, "programs") { programs() }
        else if words.is(0, "run") { run(words) }
        else if words.is(0, "faults") { faults() }
        else if words.is(0, "fault") { _ = cpu_read_byte(0) }
        else {
            Console.write("error: unknown command '")
            words.write(0)
            Console.write("' (try help)\n")
        }
    }

    private static func help() {
        Console.write("""
            help                      this list
            mem                       frame counts, boot reservations
            alloc [count]             allocate frames (at most 16)
            free ADDRESS              free the frame at a physical address
            map VIRTUAL [PHYS] [wux]  map a page (w writable, u user, x executable)
            unmap VIRTUAL             unmap a page and free its frame
            translate VIRTUAL         physical address and flags
            walk VIRTUAL              every level of the page walk, with flags
            spaces                    the test memory space and its reservations
            reserve PAGES [eager]     reserve pages in the test memory space
            release ADDRESS           free a reservation
            programs                  the built-in user programs
            run PROGRAM               run one in a process of its own, at 0x0
            faults                    the last page-trap decisions
            fault                     a deliberate kernel page fault (panic report)
            quit                      leave the monitor

            """)
    }

    private static func memory() {
        Console.write("frames: total ")
        Console.writeDecimal(PhysicalMemory.frames.totalFrames)
        Console.write(", free ")
        Console.writeDecimal(PhysicalMemory.frames.freeFrames)
        Console.write(", used ")
        Console.writeDecimal(PhysicalMemory.frames.usedFrames)
        Console.write(", reserved ")
        Console.writeDecimal(PhysicalMemory.frames.reservedFrames)
        Console.write("\nreserved at boot:\n")
        for index in 0..<PhysicalMemory.reservationCount {
            let reservation = PhysicalMemory.reservations[index]
            Console.write("  ")
            Console.writeHex(reservation.range.start << frameShift)
            Console.write("-")
            Console.writeHex(reservation.range.end << frameShift)
            Console.write(" ")
            switch reservation.kind {
            case ReservationKind.pageZero: Console.write("page 0")
            case ReservationKind.bootstrapTables: Console.write("bootstrap page tables")
            case ReservationKind.kernelImage: Console.write("kernel image")
            case ReservationKind.startInfo: Console.write("PVH start info")
            case ReservationKind.memoryMap: Console.write("memory map")
            default: Console.write("frame bitmap")
            }
            Console.write("\n")
        }
    }

    private static func allocate(_ words: Words) {
        var count: UInt64 = 1
        if words.count > 1 {
            guard let parsed = words.number(1), parsed >= 1, parsed <= 16 else { return badNumber(words, 1) }
            count = parsed
        }
        for _ in 0..<count {
            guard let frame = PhysicalMemory.frames.allocate() else {
                Console.write("error: out of physical memory\n")
                return
            }
            Console.write("frame ")
            Console.writeHex(frame.address)
            Console.write("\n")
        }
    }

    private static func free(_ words: Words) {
        guard let address = words.number(1) else { return badNumber(words, 1) }
        do {
            try PhysicalMemory.frames.free(Frame(containing: address))
            Console.write("freed ")
            Console.writeHex(address & ~(frameSize - 1))
            Console.write("\n")
        } catch {
            switch error {
            case .doubleFree: Console.write("error: the frame is free already\n")
            case .reservedFrame: Console.write("error: the frame is reserved\n")
            case .outOfRange: Console.write("error: no such frame\n")
            }
        }
    }

    private static func map(_ words: Words) {
        guard let virtual = words.number(1) else { return badNumber(words, 1) }
        var physical = noFrame
        var flagsWord = 2
        if words.count > 2, let parsed = words.number(2) {
            physical = parsed
            flagsWord = 3
        }
        var flags: PageTableFlags = [.noExecute]
        if words.count > flagsWord {
            for letter in words.bytes(flagsWord) {
                switch letter {
                case UInt8(ascii: "w"): flags.insert(.writable)
                case UInt8(ascii: "u"): flags.insert(.user)
                case UInt8(ascii: "x"): flags.remove(.noExecute)
                default:
                    Console.write("error: flags are letters w, u and x\n")
                    return
                }
            }
        }
        var scratch = Scratch()
        let status = scratch.run { record in PagemapCommands.map(virtual, physical, flags.rawValue, &record) }
        if status == ReplyStatus.ok {
            Console.write("mapped ")
            Console.writeHex(virtual)
            Console.write(" -> ")
            Console.writeHex(scratch.word(0))
            Console.write("\n")
        } else {
            pagemapError(scratch)
        }
    }

    private static func unmap(_ words: Words) {
        guard let virtual = words.number(1) else { return badNumber(words, 1) }
        var scratch = Scratch()
        let status = scratch.run { record in PagemapCommands.unmap(virtual, freeFrame: true, &record) }
        if status == ReplyStatus.ok {
            Console.write("unmapped ")
            Console.writeHex(virtual)
            Console.write("\n")
        } else {
            pagemapError(scratch)
        }
    }

    private static func translate(_ words: Words) {
        guard let raw = words.number(1), let address = VirtualAddress(raw) else { return badNumber(words, 1) }
        if let translation = KernelAddressSpace.pagemap.translate(address) {
            Console.writeHex(raw)
            Console.write(" -> ")
            Console.writeHex(translation.physical)
            Console.write(" ")
            writeAccess(translation.flags)
            Console.write(translation.pageSize == hugePageSize ? " 2M\n" : translation.pageSize == pageSize ? " 4K\n" : " 1G\n")
        } else {
            Console.writeHex(raw)
            Console.write(" is not mapped\n")
        }
    }

    private static func walk(_ words: Words) {
        guard let raw = words.number(1), let address = VirtualAddress(raw) else { return badNumber(words, 1) }
        var level = 4
        for entry in KernelAddressSpace.pagemap.entries(on: address) {
            switch level {
            case 4: Console.write("PML4[")
            case 3: Console.write("PDPT[")
            case 2: Console.write("PD[")
            default: Console.write("PT[")
            }
            Console.writeDecimal(UInt64(address.index(level: level)))
            Console.write("] = ")
            Console.writeHex(entry.raw)
            if entry.isPresent {
                Console.write(" -> ")
                Console.writeHex(entry.address)
                Console.write(" ")
                writeAccess(entry.flags)
                if entry.isHuge && level <= 3 { Console.write(" huge") }
            } else {
                Console.write(" not present")
            }
            Console.write("\n")
            level -= 1
        }
    }

    private static func spaces() {
        let space = MemorySpaceCommands.space.reservations
        Console.write("test space ")
        Console.writeHex(MemorySpaceCommands.space.base)
        Console.write("-")
        Console.writeHex(MemorySpaceCommands.space.limit)
        Console.write(", mark ")
        Console.writeHex(MemorySpaceCommands.space.highWaterMark)
        Console.write(", ")
        Console.writeDecimal(UInt64(space.count))
        Console.write(" reservations\n")
        for reservation in space {
            Console.write("  ")
            Console.writeHex(reservation.start)
            Console.write(" ")
            Console.writeDecimal(reservation.pageCount)
            Console.write(reservation.backing == .eager ? " pages eager\n" : " pages lazy\n")
        }
    }

    private static func reserve(_ words: Words) {
        guard let pages = words.number(1) else { return badNumber(words, 1) }
        let eager = words.count > 2 && words.is(2, "eager")
        var scratch = Scratch()
        let status = scratch.run { record in
            MemorySpaceCommands.reserve(pages: pages, eager: eager, flags: PageTableFlags([.writable, .noExecute]).rawValue, &record)
        }
        if status == ReplyStatus.ok {
            Console.write("reserved ")
            Console.writeHex(scratch.word(0))
            Console.write("\n")
        } else {
            Console.write("error: the memory space refused (code ")
            Console.writeDecimal(scratch.word(0))
            Console.write(")\n")
        }
    }

    private static func release(_ words: Words) {
        guard let start = words.number(1) else { return badNumber(words, 1) }
        var scratch = Scratch()
        if scratch.run({ record in MemorySpaceCommands.free(start, &record) }) == ReplyStatus.ok {
            Console.write("released, ")
            Console.writeDecimal(scratch.word(0))
            Console.write(" frames freed\n")
        } else {
            Console.write("error: no reservation starts there\n")
        }
    }

    private static func programs() {
        for index in 0..<ProcessRunner.programCount() {
            Console.write("  ")
            Console.write(ProcessRunner.program(index).name)
            Console.write("\n")
        }
    }

    private static func run(_ words: Words) {
        guard words.count > 1 else { return badNumber(words, 1) }
        var found = -1
        let wanted = words.bytes(1)
        for index in 0..<ProcessRunner.programCount() {
            let name = ProcessRunner.program(index).name
            if name.count == wanted.count && (0..<name.count).allSatisfy({ name[$0] == wanted[$0] }) { found = index }
        }
        guard found >= 0, ProcessRunner.run(found, reportFaults: false) else {
            Console.write("error: no program named ")
            words.write(1)
            Console.write(" (try programs)\n")
            return
        }
        words.write(1)
        if CurrentProcess.killed {
            Console.write(" faulted: ")
            writeReason(CurrentProcess.status)
            Console.write(" at ")
            Console.writeHex(CurrentProcess.faultAddress)
            Console.write(", rip ")
            Console.writeHex(CurrentProcess.faultRip)
        } else {
            Console.write(" exited with status ")
            Console.writeDecimal(CurrentProcess.status)
        }
        Console.write(", ")
        Console.writeDecimal(CurrentProcess.reallocations)
        Console.write(" demand faults\n")
    }

    private static func faults() {
        let count = min(RecentFaults.total, RecentFaults.capacity)
        if count == 0 { Console.write("no page faults yet\n") }
        for age in 0..<count {
            let entry = RecentFaults.entry(age)
            Console.write("  ")
            Console.writeHex(entry.address)
            Console.write(" error ")
            Console.writeHex(entry.errorCode)
            Console.write(" -> ")
            if entry.reason == 0 { Console.write("reallocated") } else { writeReason(entry.reason) }
            Console.write("\n")
        }
    }

    private static func writeReason(_ reason: UInt64) {
        switch reason {
        case FaultReason.notAllocated.rawValue: Console.write("not allocated")
        case FaultReason.writeToReadOnly.rawValue: Console.write("write to read-only")
        case FaultReason.executeNoExecute.rawValue: Console.write("execute no-execute")
        case FaultReason.kernelAddress.rawValue: Console.write("kernel address")
        case FaultReason.guardPage.rawValue: Console.write("guard page")
        case FaultReason.outOfMemory.rawValue: Console.write("out of memory")
        case FaultReason.reservedBit.rawValue: Console.write("reserved bit")
        case FaultReason.exception.rawValue: Console.write("exception")
        default: Console.write("bad system call")
        }
    }

    // MARK: - Output

    private static func writeAccess(_ flags: PageTableFlags) {
        Console.write("r")
        Console.write(flags.contains(.writable) ? "w" : "-")
        Console.write(flags.contains(.noExecute) ? "-" : "x")
        Console.write(flags.contains(.user) ? " user" : " supervisor")
    }

    private static func badNumber(_ words: Words, _ index: Int) {
        if words.count <= index {
            Console.write("error: missing argument (try help)\n")
        } else {
            Console.write("error: not a number or address: ")
            words.write(index)
            Console.write("\n")
        }
    }

    private static func pagemapError(_ scratch: borrowing Scratch) {
        switch scratch.word(0) {
        case PagemapErrorCode.nonCanonical: Console.write("error: not a canonical address\n")
        case PagemapErrorCode.misaligned: Console.write("error: not page-aligned\n")
        case PagemapErrorCode.alreadyMapped: Console.write("error: already mapped to ")
            Console.writeHex(scratch.word(2))
            Console.write("\n")
        case PagemapErrorCode.frameAllocationFailed: Console.write("error: out of physical memory\n")
        case PagemapErrorCode.parentIsHugePage: Console.write("error: inside a huge page\n")
        default: Console.write("error: not mapped\n")
        }
    }
}

/// The words of a monitor line, by position.
private struct Words {
    private let base: UnsafeMutablePointer<UInt8>
    private var starts = (0, 0, 0, 0)
    private var ends = (0, 0, 0, 0)
    private(set) var count = 0

    init(_ base: UnsafeMutablePointer<UInt8>, _ length: Int) {
        self.base = base
        var index = 0
        while index < length && count < 4 {
            while index < length && base[index] == UInt8(ascii: " ") { index += 1 }
            guard index < length else { break }
            let start = index
            while index < length && base[index] != UInt8(ascii: " ") { index += 1 }
            set(count, start, index)
            count += 1
        }
    }

    private mutating func set(_ index: Int, _ start: Int, _ end: Int) {
        switch index {
        case 0: starts.0 = start; ends.0 = end
        case 1: starts.1 = start; ends.1 = end
        case 2: starts.2 = start; ends.2 = end
        default: starts.3 = start; ends.3 = end
        }
    }

    func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let (start, end) = index == 0 ? (starts.0, ends.0) : index == 1 ? (starts.1, ends.1)
            : index == 2 ? (starts.2, ends.2) : (starts.3, ends.3)
        return UnsafeBufferPointer(start: base + start, count: end - start)
    }

    func `is`(_ index: Int, _ word: StaticString) -> Bool {
        let bytes = self.bytes(index)
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        for offset in 0..<bytes.count where bytes[offset] != word.utf8Start[offset] { return false }
        return true
    }

    func write(_ index: Int) {
        Console.write(UnsafeRawBufferPointer(bytes(index)))
    }

    /// A number: decimal, or hex after 0x; underscores are ignored.
    func number(_ index: Int) -> UInt64? {
        guard index < count else { return nil }
        let bytes = self.bytes(index)
        var value: UInt64 = 0
        var position = 0
        var radix: UInt64 = 10
        if bytes.count > 2 && bytes[0] == UInt8(ascii: "0") && (bytes[1] | 0x20) == UInt8(ascii: "x") {
            radix = 16
            position = 2
        }
        var digits = 0
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "_") { continue }
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
            guard !overflow else { return nil }
            value = shifted + digit
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// A record buffer for reusing the command helpers' reply-writing code.
private struct Scratch: ~Copyable {
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
    private var words = 0

    deinit { buffer.deallocate() }

    mutating func run(_ body: (inout RecordWriter) -> UInt64) -> UInt64 {
        var writer = RecordWriter(base: buffer, capacity: 256, kind: 0, sequence: 0)
        let status = body(&writer)
        words = writer.wordCount
        writer.finish()
        return status
    }

    func word(_ index: Int) -> UInt64 {
        index < words ? buffer.load(fromByteOffset: recordHeaderSize + index * 8, as: UInt64.self) : 0
    }
}
