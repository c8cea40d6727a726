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
            unmap VIRTUAL             unmap a page; frees its frame if map took it
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
            Console.write(reservation.kind.name)
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
        do throws(CallError) {
            _ = try FreeFrame(address: address).perform()
            Console.write("freed ")
            Console.writeHex(address)
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    private static func map(_ words: Words) {
        guard let virtual = words.number(1) else { return badNumber(words, 1) }
        var frame = FrameChoice.allocate
        var flagsWord = 2
        if words.count > 2, let parsed = words.number(2) {
            frame = .existing(physical: parsed)
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
        do throws(CallError) {
            let mapped = try MapPage(virtual: virtual, frame: frame, flags: flags).perform()
            // Only a frame the monitor took is the monitor's to free again.
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

    /// Pages `map` gave a frame of the allocator's: `unmap` frees those frames, and no others.
    private static var ownedPages: [UInt64] = []

    private static func unmap(_ words: Words) {
        guard let virtual = words.number(1) else { return badNumber(words, 1) }
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

    private static func reserve(_ words: Words) {
        guard let pages = words.number(1) else { return badNumber(words, 1) }
        let eager = words.count > 2 && words.is(2, "eager")
        do throws(CallError) {
            let start = try ReserveSpace(pages: pages, backing: eager ? .eager : .lazy, flags: [.writable, .noExecute]).perform()
            Console.write("reserved ")
            Console.writeHex(start)
            Console.write("\n")
        } catch {
            writeError(error)
        }
    }

    private static func release(_ words: Words) {
        guard let start = words.number(1) else { return badNumber(words, 1) }
        do throws(CallError) {
            let freed = try FreeSpace(start: start).perform()
            Console.write("released, ")
            Console.writeDecimal(freed)
            Console.write(" frames freed\n")
        } catch {
            writeError(error)
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
            writeReason(CurrentProcess.reason)
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
            if let reason = entry.reason { writeReason(reason) } else { Console.write("reallocated") }
            Console.write("\n")
        }
    }

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

    private static func writeError(_ error: CallError) {
        Console.write("error: ")
        CallErrorText.write(error)
        Console.write("\n")
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
