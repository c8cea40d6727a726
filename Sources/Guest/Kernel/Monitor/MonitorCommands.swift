// What each monitor command does. Arguments were counted against the
// command's usage before any of these runs.

enum MonitorCommands {
    static let allocateLimit: UInt64 = 16

    /// What --cpu gave and took, as the kernel sees it, and what it did with it.
    static func cpu() {
        Console.write("CPUID:")
        for feature in CPUFeature.allCases {
            Console.write(CPUModes.has(feature) ? " +" : " -")
            Console.write(feature.name)
        }
        Console.write("\nkernel: EFER.NXE ")
        Console.write(CPUModes.noExecute ? "on" : "off (nothing is mapped no-execute)")
        Console.write(", CR4.SMEP ")
        Console.write(CPUModes.smep ? "on" : "off")
        Console.write(", CR4.SMAP ")
        Console.write(CPUModes.smap ? "on" : "off")
        Console.write("\ndirect map in ")
        Console.write(KernelAddressSpace.gigabyteDirectMap ? "1 GiB" : "2 MiB")
        Console.write(" pages, MAXPHYADDR ")
        Console.writeDecimal(CPUModes.physicalAddressBits)
        Console.write("\n")
    }

    /// Each CPU online, its APIC ID, and what it runs: the boot CPU runs the
    /// monitor (and calls, and processes), the others wait in their idle loop.
    static func cpus() {
        for index in 0..<CPUs.count {
            let area = CPUs.area(index).pointee
            Console.write("cpu ")
            Console.writeDecimal(UInt64(index))
            Console.write(": APIC ID ")
            Console.writeDecimal(UInt64(area.apic_id))
            Console.write(cpu_atomic_load(&CPUs.area(index).pointee.online) != 0 ? ", online, " : ", offline, ")
            Console.write(index == 0 ? "boot CPU, runs the monitor\n" : "idle\n")
        }
    }

    /// Asks the host to check the page tables from outside; it prints the
    /// result on the console before the kernel goes on.
    static func check() {
        guard ReportChannel.hostAnswers else {
            Console.write("error: no host answers on the report channel to check the page tables\n")
            return
        }
        ReportChannel.send(kind: RecordKind.pageTableCheckRequest) { _ in }
    }

    static func memory() {
        Console.write("frames: total ")
        Console.writeDecimal(PhysicalMemory.frames.totalFrames)
        Console.write(", free ")
        Console.writeDecimal(PhysicalMemory.frames.freeFrames)
        Console.write(", used ")
        Console.writeDecimal(PhysicalMemory.frames.usedFrames)
        Console.write(", reserved ")
        Console.writeDecimal(PhysicalMemory.frames.reservedFrames)
        Console.write("\nusable RAM: ")
        Console.writeDecimal(PhysicalMemory.frames.usableFrames)
        Console.write(" frames in ")
        Console.writeDecimal(UInt64(PhysicalMemory.frames.usableRangeCount))
        Console.write(" ranges, ")
        Console.writeDecimal(PhysicalMemory.frames.usableFrames(from: (1 << 32) >> frameShift))
        Console.write(" of them above 4 GiB")
        Console.write("\nreserved at boot:\n")
        for index in 0..<PhysicalMemory.reservationCount {
            let reservation = PhysicalMemory.reservations[index]
            Console.write("  ")
            Console.writeHex(reservation.range.start << frameShift)
            Console.write("-")
            Console.writeHex(reservation.range.end << frameShift)
            Console.write(" ")
            Console.write(reservation.kind.name)
            Console.write("\n")
        }
    }

    static func allocate(_ words: MonitorWords) {
        var count: UInt64 = 1
        if words.count > 1 {
            guard let parsed = words.count(1) else { return notACount(words, 1) }
            guard (1...allocateLimit).contains(parsed) else {
                Console.write("error: alloc takes 1 to 16 frames, not ")
                words.write(1)
                Console.write("\n")
                return
            }
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

    static func free(_ words: MonitorWords) {
        guard let address = words.address(1) else { return notAnAddress(words, 1) }
        do throws(CallError) {
            _ = try FreeFrame(address: address).perform()
            Console.write("freed ")
            Console.writeHex(address)
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    /// Pages `map` gave a frame of the allocator's: `unmap` frees those frames, and no others.
    private static var ownedPages: [UInt64] = []

    static func map(_ words: MonitorWords) {
        guard let virtual = words.address(1) else { return notAnAddress(words, 1) }
        var frame = FrameChoice.allocate
        var flags: PageTableFlags = [.noExecute]
        // After the address: a physical address, flags, or both in that order.
        // Flags are letters no hex digit shares, so the two cannot be confused.
        var index = 2
        if index < words.count, let physical = words.address(index) {
            frame = .existing(physical: physical)
            index += 1
        }
        if index < words.count {
            for letter in words.bytes(index) {
                switch letter {
                case UInt8(ascii: "w"): flags.insert(.writable)
                case UInt8(ascii: "u"): flags.insert(.user)
                case UInt8(ascii: "x"): flags.remove(.noExecute)
                default:
                    Console.write("error: '")
                    words.write(index)
                    Console.write(index == 2 ? "' is neither a physical address nor flags (letters w, u and x)\n"
                                             : "' is not flags: letters w, u and x\n")
                    return
                }
            }
            index += 1
        }
        guard index == words.count else {
            Console.write("error: '")
            words.write(index)
            Console.write("' is one word too many: map VIRTUAL [PHYSICAL] [wux]\n")
            return
        }
        do throws(CallError) {
            let mapped = try MapPage(virtual: virtual, frame: frame, flags: flags).perform()
            if frame == .allocate { ownedPages.append(virtual) }
            Console.write("mapped ")
            Console.writeHex(virtual)
            Console.write(" -> ")
            Console.writeHex(mapped)
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    static func unmap(_ words: MonitorWords) {
        guard let virtual = words.address(1) else { return notAnAddress(words, 1) }
        let owned = ownedPages.firstIndex(of: virtual)
        do throws(CallError) {
            let frame = try UnmapPage(virtual: virtual, freeFrame: owned != nil).perform()
            if let owned { ownedPages.remove(at: owned) }
            Console.write("unmapped ")
            Console.writeHex(virtual)
            if let frame {
                Console.write(owned != nil ? ", frame " : ", frame kept ")
                Console.writeHex(frame)
                if owned != nil { Console.write(" freed") }
            }
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    static func translate(_ words: MonitorWords) {
        guard let raw = words.address(1) else { return notAnAddress(words, 1) }
        guard let address = VirtualAddress(raw) else { return writeError(.nonCanonical(address: raw)) }
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

    static func walk(_ words: MonitorWords) {
        guard let raw = words.address(1) else { return notAnAddress(words, 1) }
        guard let address = VirtualAddress(raw) else { return writeError(.nonCanonical(address: raw)) }
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

    static func spaces() {
        let space = TestSpace.space.reservations
        Console.write("test space ")
        Console.writeHex(TestSpace.space.base)
        Console.write("-")
        Console.writeHex(TestSpace.space.limit)
        Console.write(", mark ")
        Console.writeHex(TestSpace.space.highWaterMark)
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

    static func reserve(_ words: MonitorWords) {
        guard let pages = words.count(1) else { return notACount(words, 1) }
        var backing = Backing.lazy
        if words.count > 2 {
            if words.is(2, "eager") { backing = .eager }
            else if !words.is(2, "lazy") {
                Console.write("error: '")
                words.write(2)
                Console.write("' is neither eager nor lazy\n")
                return
            }
        }
        do throws(CallError) {
            let start = try ReserveSpace(pages: pages, backing: backing, flags: [.writable, .noExecute]).perform()
            Console.write("reserved ")
            Console.writeHex(start)
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    static func release(_ words: MonitorWords) {
        guard let start = words.address(1) else { return notAnAddress(words, 1) }
        do throws(CallError) {
            let freed = try FreeSpace(start: start).perform()
            Console.write("released, ")
            Console.writeDecimal(freed)
            Console.write(" frames freed\n")
        } catch {
            writeError(error)
        }
    }

    static func programs() {
        // The names in a column as wide as the longest, and a space.
        let width = (0..<ProcessRunner.programCount()).map { ProcessRunner.program($0).name.count }.max() ?? 0
        for index in 0..<ProcessRunner.programCount() {
            let program = ProcessRunner.program(index)
            Console.write("  ")
            Console.write(program.name)
            Console.writeSpaces(width + 1 - program.name.count)
            Console.write(program.description)
            Console.write("\n")
        }
    }

    static func run(_ words: MonitorWords) {
        var found = -1
        let wanted = words.bytes(1)
        for index in 0..<ProcessRunner.programCount() {
            let name = ProcessRunner.program(index).name
            if name.count == wanted.count && (0..<name.count).allSatisfy({ name[$0] == wanted[$0] }) { found = index }
        }
        var threads: UInt64 = 1
        if words.count > 2 {
            guard let parsed = words.count(2) else { return notACount(words, 2) }
            guard (1...UInt64(CPUs.count)).contains(parsed) else {
                Console.write("error: run takes 1 to ")
                Console.writeDecimal(UInt64(CPUs.count))
                Console.write(" threads (one a CPU online), not ")
                words.write(2)
                Console.write("\n")
                return
            }
            threads = parsed
        }
        // Every decision goes through the Swift page trap, so `faults` shows them all;
        // what the program reports (SYS_REPORT) is shown as it comes.
        CurrentProcess.showReports = true
        defer { CurrentProcess.showReports = false }
        guard found >= 0, ProcessRunner.run(found, reportFaults: true, threads: Int(threads)) else {
            Console.write("error: no program named ")
            words.write(1)
            Console.write(" (try programs)\n")
            return
        }
        words.write(1)
        if threads > 1 {
            Console.write(" (")
            Console.writeDecimal(threads)
            Console.write(" threads)")
        }
        if CurrentProcess.killed {
            Console.write(" faulted")
            if threads > 1 {
                Console.write(" in thread ")
                Console.writeDecimal(CurrentProcess.faultThread)
            }
            Console.write(": ")
            writeReason(CurrentProcess.reason)
            if CurrentProcess.reason == .exception {
                Console.write(" (vector ")
                Console.writeDecimal(CurrentProcess.faultVector)
                Console.write(", ")
                Console.write(vectorName(CurrentProcess.faultVector))
                Console.write(")")
            }
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

    static func faults() {
        let shown = min(RecentFaults.total, RecentFaults.capacity)
        if shown == 0 { return Console.write("no page faults yet\n") }
        Console.writeDecimal(UInt64(RecentFaults.total))
        Console.write(" page-trap decisions since boot; the last ")
        Console.writeDecimal(UInt64(shown))
        Console.write(", newest first:\n")
        for age in 0..<shown {
            let entry = RecentFaults.entry(age)
            Console.write("  ")
            Console.writeHex(entry.address)
            Console.write(" error ")
            Console.writeHex(entry.errorCode)
            Console.write(" -> ")
            if let reason = entry.reason { writeReason(reason) } else { Console.write("reallocated") }
            Console.write("\n")
        }
    }

    // MARK: - Output

    private static func writeReason(_ reason: FaultReason) {
        switch reason {
        case .notAllocated: Console.write("not allocated")
        case .writeToReadOnly: Console.write("write to read-only")
        case .executeNoExecute: Console.write("execute no-execute")
        case .kernelAddress: Console.write("kernel address")
        case .guardPage: Console.write("guard page")
        case .outOfMemory: Console.write("out of memory")
        case .reservedBit: Console.write("reserved bit")
        case .exception: Console.write("exception")
        case .badSystemCall: Console.write("bad system call")
        }
    }

    private static func vectorName(_ vector: UInt64) -> StaticString {
        switch vector {
        case 0: "#DE divide error"
        case 1: "#DB debug"
        case 3: "#BP breakpoint"
        case 6: "#UD invalid opcode"
        case 13: "#GP general protection"
        case 14: "#PF page fault"
        case 17: "#AC alignment check"
        default: "see the Intel SDM, volume 3, table 6-1"
        }
    }

    private static func writeAccess(_ flags: PageTableFlags) {
        Console.write("r")
        Console.write(flags.contains(.writable) ? "w" : "-")
        Console.write(flags.contains(.noExecute) ? "-" : "x")
        Console.write(flags.contains(.user) ? " user" : " supervisor")
    }

    private static func notAnAddress(_ words: MonitorWords, _ index: Int) {
        Console.write("error: '")
        words.write(index)
        Console.write("' is not an address (hexadecimal, 0x optional)\n")
    }

    private static func notACount(_ words: MonitorWords, _ index: Int) {
        Console.write("error: '")
        words.write(index)
        Console.write("' is not a count (decimal)\n")
    }

    private static func writeError(_ error: CallError) {
        Console.write("error: ")
        CallErrorText.write(error)
        Console.write("\n")
    }
}
