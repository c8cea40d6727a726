import MemoryManager
import CKVM
import Foundation
import GuestProtocol

/// A snapshot on disk, version 4, little-endian:
///
///     "KVMHSNAP"  u32 version  u64 memory size  u64 kernel digest
///     section "CPUF"  the CPU features given and taken away (two u64 masks
///                     of `CPUFeature.maskBit`)
///     section "RAMR"  where RAM lies: a u64 count, then each range's start
///                     and end (memory size is the last end; the 32-bit hole
///                     and any other gap hold no pages)
///     section "VCPU"  a u32 count of vCPUs, then each vCPU's state (KVM's
///                     structures as KVM lays them out), its local APIC's
///                     last (a u32 length, 0 with one CPU)
///     section "IRQC"  a u32 count of irqchip chips (0 with one CPU, else the
///                     two PICs and the IOAPIC), each a `kvm_irqchip`
///     section "HOST"  memory map, command channel, exit status, the page-table
///                     check table's address, the reports kept
///                     (program values, page traps, failed expectations)
///     section "UART"  transcript, unread input, registers
///     section "MEMP"  a bit a page (set: not all zero), then those pages
///
/// A section is its tag, its u64 length and that many bytes. Reading checks
/// every length against what is there before it takes or allocates
/// anything: a truncated, corrupt or foreign file is a `SnapshotFileError`.
public enum SnapshotFile {
    static let magic = Array("KVMHSNAP".utf8)
    /// 2: the CPU features (version 1 had none); 3: the page-table check
    /// table's address in the host section; 4: several vCPUs, their local
    /// APICs and the irqchip.
    public static let version: UInt32 = 4

    /// Writes `snapshot` to `path` (through a temporary file beside it, so
    /// that `path` is either the old file or the whole new one).
    public static func write(_ snapshot: GuestSnapshot, to path: String) throws {
        let host = snapshot.host
        guard host.queued.isEmpty else {
            throw SnapshotFileError.notSavable("\(host.queued.count) reports the guest sent are not yet taken; "
                                               + "a snapshot file keeps a guest between calls")
        }
        var out = magic
        out.append(littleEndian: version)
        out.append(littleEndian: UInt64(snapshot.memorySize))
        out.append(littleEndian: snapshot.kernelDigest)
        out.section("CPUF") { section in
            section.append(littleEndian: snapshot.cpuFeatures.enabledMask)
            section.append(littleEndian: snapshot.cpuFeatures.disabledMask)
        }
        out.section("RAMR") { section in
            section.append(littleEndian: UInt64(snapshot.ram.count))
            for range in snapshot.ram {
                section.append(littleEndian: range.lowerBound)
                section.append(littleEndian: range.upperBound)
            }
        }
        out.section("VCPU") { section in
            section.append(littleEndian: UInt32(snapshot.vcpus.count))
            for vcpu in snapshot.vcpus {
                section.appendRaw(vcpu.mpState)
                section.appendRaw(vcpu.registers)
                section.appendRaw(vcpu.specialRegisters)
                section.append(contentsOf: vcpu.xsave)
                section.appendRaw(vcpu.extendedControlRegisters)
                section.appendRaw(vcpu.debugRegisters)
                section.appendRaw(vcpu.events)
                section.append(littleEndian: UInt32(VCPUState.msrs.count))
                for (msr, value) in zip(VCPUState.msrs, vcpu.msrValues) {
                    section.append(littleEndian: msr.index)
                    section.append(littleEndian: value)
                }
                if let localAPIC = vcpu.localAPIC {
                    section.append(littleEndian: UInt32(MemoryLayout<kvm_lapic_state>.size))
                    section.appendRaw(localAPIC)
                } else {
                    section.append(littleEndian: UInt32(0))
                }
            }
        }
        out.section("IRQC") { section in
            let chips = snapshot.interruptController?.chips ?? []
            section.append(littleEndian: UInt32(chips.count))
            for chip in chips { section.appendRaw(chip) }
        }
        out.section("HOST") { section in
            section.append(littleEndian: UInt64(host.memoryMap.entries.count))
            for entry in host.memoryMap.entries {
                section.append(littleEndian: entry.base)
                section.append(littleEndian: entry.length)
                section.append(littleEndian: entry.type)
            }
            section.append(host.commandBuffer == nil ? 0 : 1)
            section.append(littleEndian: host.commandBuffer?.address ?? 0)
            section.append(littleEndian: host.commandBuffer?.capacity ?? 0)
            section.append(littleEndian: host.commandSequence)
            section.append(host.inputEnded ? 1 : 0)
            section.append(littleEndian: UInt64(host.droppedReports))
            section.append(host.exitStatus == nil ? 0 : 1)
            section.append(littleEndian: host.exitStatus ?? 0)
            section.append(littleEndian: host.pageTableCheckTable)
            section.append(littleEndian: UInt64(host.programReports.count))
            for value in host.programReports { section.append(littleEndian: value) }
            section.append(littleEndian: UInt64(host.pageTraps.count))
            for trap in host.pageTraps { section.appendWords(of: trap) }
            section.append(littleEndian: UInt64(host.expectationFailures.count))
            for failure in host.expectationFailures {
                section.appendText(failure.condition)
                section.appendText(failure.file)
                section.append(littleEndian: failure.line)
                section.append(littleEndian: UInt64(failure.values.count))
                for value in failure.values { section.append(littleEndian: value) }
            }
        }
        out.section("UART") { section in
            let serial = snapshot.serial
            section.append(littleEndian: UInt64(serial.transcript.count))
            section.append(contentsOf: serial.transcript)
            section.append(littleEndian: UInt64(serial.input.count))
            section.append(contentsOf: serial.input)
            let registers = serial.registers
            section.append(contentsOf: [registers.interruptEnable, registers.lineControl, registers.modemControl, registers.scratch])
            section.append(littleEndian: registers.divisor)
        }
        // Pages that are all zero are left out: most of a booted guest's.
        // Only the memory file's data is read: its holes are zeros, and
        // reading one would give it a page of host memory.
        let pages = snapshot.memorySize / pageBytes
        var present = PageBitmap(pages: pages)
        snapshot.forEachDataRegion { region in
            for page in region where !isZero(snapshot.memory + page * pageBytes) {
                present.insert(pages: UInt64(page)...UInt64(page))
            }
        }
        let memoryLength = present.words.count * 8 + present.count * pageBytes
        out.append(contentsOf: Array("MEMP".utf8))
        out.append(littleEndian: UInt64(memoryLength))
        for word in present.words { out.append(littleEndian: word) }

        try UserFiles.write(to: path) { write in
            try out.withUnsafeBytes { try write($0.baseAddress!, $0.count) }
            try present.forEachPage { page in try write(snapshot.memory + page * pageBytes, pageBytes) }
        }
    }

    /// The most bytes a snapshot file's sections other than its pages may
    /// take (the UART's transcript and input, the reports kept, the map):
    /// a file that claims more is refused before they are read.
    public static let maximumHeadBytes = 64 << 20

    /// Reads and checks the snapshot at `path`.
    ///
    /// The file is read with pread(2), never mapped: a file that shrinks
    /// while it is read is a `SnapshotFileError`, not a SIGBUS (a private
    /// mapping of a truncated file faults too). Only a regular file is
    /// read; a FIFO, a device or a directory is refused before any blocking
    /// open.
    ///
    /// Host memory: the sections other than the pages (at most
    /// `maximumHeadBytes`), the page bitmap (a bit a page of the memory
    /// size), a 1 MiB buffer, and the memory file's pages that the file
    /// holds as data and that are not all zeros. Holes in the file
    /// (lseek SEEK_DATA) and pages of zeros are not copied, so that a
    /// sparse file of 96 GiB of pages marked present takes no more than the
    /// data it really holds, and never more than guest RAM.
    public static func read(from path: String) throws -> GuestSnapshot {
        let (descriptor, size): (Int32, Int)
        do { (descriptor, size) = try UserFiles.openRegularFile(path) } catch {
            throw SnapshotFileError.io("\(error)", errno: 0)
        }
        defer { close(descriptor) }
        let source = PageSource.file(descriptor: descriptor, path: path, size: size)
        do {
            return try decode(source: source)
        } catch let error as FileAccessError {
            throw SnapshotFileError.io("\(error)", errno: 0)
        }
    }

    /// Checks and decodes a snapshot file's bytes.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> GuestSnapshot {
        try decode(source: PageSource.memory(bytes))
    }

    static func decode(source: PageSource) throws -> GuestSnapshot {
        var file = SnapshotCursor(source: source)
        guard source.size >= magic.count, try source.bytes(at: 0, count: magic.count) == magic else { throw SnapshotFileError.notASnapshot }
        file.skip(magic.count)
        let version = try file.u32()
        guard version == Self.version else { throw SnapshotFileError.unsupportedVersion(version) }
        let memorySize = try file.u64()
        guard memorySize % pageSize == 0, memorySize >= UInt64(VirtualMachine.minimumMemorySize), memorySize <= GuestRAM.maximumEnd else {
            throw SnapshotFileError.badValue(section: "file", "memory size \(memorySize) is not a guest size this host builds")
        }
        let kernelDigest = try file.u64()

        var cpuSection = try file.section("CPUF")
        let enabled = try cpuSection.u64(), disabled = try cpuSection.u64()
        try cpuSection.end()
        guard let cpuFeatures = CPUSelection(enabledMask: enabled, disabledMask: disabled) else {
            throw SnapshotFileError.badValue(section: "CPUF", "features \(hex(enabled)) given and \(hex(disabled)) taken away: "
                                             + "not features of \(CPUFeature.allCases.map { "\($0.name)" }.joined(separator: ", ")), or some both")
        }

        var ramSection = try file.section("RAMR")
        let rangeCount = try ramSection.count(elementSize: 16)
        guard (1...GuestRAM.maximumRanges).contains(rangeCount) else {
            throw SnapshotFileError.badValue(section: "RAMR", "\(rangeCount) ranges of RAM, not 1 to \(GuestRAM.maximumRanges)")
        }
        var ram: [Range<UInt64>] = []
        for _ in 0..<rangeCount {
            let start = try ramSection.u64(), end = try ramSection.u64()
            guard start < end, start % pageSize == 0, end % pageSize == 0, start >= (ram.last?.upperBound ?? 0), ram.isEmpty == (start == 0) else {
                throw SnapshotFileError.badValue(section: "RAMR", "[\(hex(start)), \(hex(end))) does not follow as RAM does: "
                                                 + "page-aligned, ascending, the first from 0")
            }
            ram.append(start..<end)
        }
        try ramSection.end()
        let ramBytes = ram.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
        guard ram.last?.upperBound == memorySize, ramBytes <= UInt64(VirtualMachine.maximumMemorySize) else {
            throw SnapshotFileError.badValue(section: "RAMR", "\(ramBytes) bytes of RAM ending at \(hex(ram.last?.upperBound ?? 0)) "
                                             + "for memory of \(memorySize) bytes")
        }

        var vcpuSection = try file.section("VCPU")
        let cpuCount = try vcpuSection.u32()
        guard (1...UInt32(GuestCPUs.maximumCount)).contains(cpuCount) else {
            throw SnapshotFileError.badValue(section: "VCPU", "\(cpuCount) vCPUs, not 1 to \(GuestCPUs.maximumCount)")
        }
        let guestOf = "a guest of \(cpuCount) CPU\(cpuCount == 1 ? "" : "s")"
        // A local APIC a vCPU with several, none with one (no irqchip then).
        let localAPICBytes = cpuCount > 1 ? MemoryLayout<kvm_lapic_state>.size : 0
        var vcpus: [VCPUState] = []
        for cpu in 0..<Int(cpuCount) {
            var vcpu = VCPUState(mpState: try vcpuSection.raw(), registers: try vcpuSection.raw(), specialRegisters: try vcpuSection.raw(),
                                 xsave: try vcpuSection.bytes(Int(ckvm_xsave_size)), extendedControlRegisters: try vcpuSection.raw(),
                                 debugRegisters: try vcpuSection.raw(), msrValues: [], events: try vcpuSection.raw())
            let msrCount = try vcpuSection.u32()
            guard msrCount == VCPUState.msrs.count else {
                throw SnapshotFileError.badValue(section: "VCPU", "\(msrCount) MSRs where this host saves \(VCPUState.msrs.count)")
            }
            for msr in VCPUState.msrs {
                let index = try vcpuSection.u32()
                guard index == msr.index else { throw SnapshotFileError.badValue(section: "VCPU", "MSR \(hex(UInt64(index))) where \(msr.name) belongs") }
                vcpu.msrValues.append(try vcpuSection.u64())
            }
            let apicLength = try vcpuSection.u32()
            guard apicLength == localAPICBytes else {
                throw SnapshotFileError.badValue(section: "VCPU", "vCPU \(cpu)'s local APIC of \(apicLength) bytes where "
                                                 + "\(guestOf) has \(localAPICBytes)")
            }
            if apicLength > 0 {
                let localAPIC: kvm_lapic_state = try vcpuSection.raw()
                vcpu.localAPIC = localAPIC
            }
            vcpus.append(vcpu)
        }
        try vcpuSection.end()

        var chipSection = try file.section("IRQC")
        let chipCount = try chipSection.u32()
        let chipIDs = cpuCount > 1 ? InterruptControllerState.chipIDs : []
        guard chipCount == chipIDs.count else {
            throw SnapshotFileError.badValue(section: "IRQC", "\(chipCount) irqchip chips where \(guestOf) has \(chipIDs.count)")
        }
        var chips: [kvm_irqchip] = []
        for id in chipIDs {
            let chip: kvm_irqchip = try chipSection.raw()
            guard chip.chip_id == id else { throw SnapshotFileError.badValue(section: "IRQC", "chip \(chip.chip_id) where chip \(id) belongs") }
            chips.append(chip)
        }
        try chipSection.end()

        var hostSection = try file.section("HOST")
        let entryCount = try hostSection.count(elementSize: 20)
        var entries: [MemoryMapEntry] = []
        for _ in 0..<entryCount {
            entries.append(MemoryMapEntry(base: try hostSection.u64(), length: try hostSection.u64(), type: try hostSection.u32()))
        }
        let hasBuffer = try hostSection.flag()
        let buffer = (address: try hostSection.u64(), capacity: try hostSection.u64())
        let commandSequence = try hostSection.u32()
        let inputEnded = try hostSection.flag()
        let dropped = try hostSection.u64()
        guard dropped <= UInt64(Int.max) else { throw SnapshotFileError.badValue(section: "HOST", "\(dropped) dropped reports") }
        let hasStatus = try hostSection.flag()
        let status = try hostSection.u32()
        let pageTableCheckTable = try hostSection.u64()
        let reportCount = try hostSection.count(elementSize: 8)
        var programReports: [UInt64] = []
        programReports.reserveCapacity(reportCount)
        for _ in 0..<reportCount { programReports.append(try hostSection.u64()) }
        // A page trap is at least its three words and the reason's.
        let trapCount = try hostSection.count(elementSize: 32)
        var pageTraps: [PageTrapRecord] = []
        for _ in 0..<trapCount { pageTraps.append(try hostSection.wire(PageTrapRecord.self)) }
        let failureCount = try hostSection.count(elementSize: 32)
        var expectationFailures: [AssertionReport] = []
        for _ in 0..<failureCount {
            let condition = try hostSection.text(), file = try hostSection.text(), line = try hostSection.u64()
            let values = try (0..<hostSection.count(elementSize: 8)).map { _ in try hostSection.u64() }
            expectationFailures.append(AssertionReport(condition: condition, file: file, line: line, values: values))
        }
        try hostSection.end()
        let host = LiveGuest.HostState(memoryMap: PhysicalMemoryMap(reported: entries), queued: [], commandBuffer: hasBuffer ? buffer : nil,
                                       commandSequence: commandSequence, inputEnded: inputEnded, pageTraps: pageTraps, programReports: programReports,
                                       droppedReports: Int(dropped), expectationFailures: expectationFailures, exitStatus: hasStatus ? status : nil,
                                       pageTableCheckTable: pageTableCheckTable)

        var uartSection = try file.section("UART")
        let transcript = try uartSection.bytes(try uartSection.count(elementSize: 1))
        let input = try uartSection.bytes(try uartSection.count(elementSize: 1))
        let registerBytes = try uartSection.bytes(4)
        let divisor = try uartSection.u16()
        try uartSection.end()
        let serial = Serial16550.State(transcript: transcript, input: input[...],
                                       registers: (registerBytes[0], registerBytes[1], registerBytes[2], registerBytes[3], divisor))

        let snapshot = try GuestSnapshot(memorySize: Int(memorySize), ram: ram, kernelDigest: kernelDigest, cpuFeatures: cpuFeatures,
                                         vcpus: vcpus, interruptController: chips.isEmpty ? nil : InterruptControllerState(chips: chips),
                                         serial: serial, host: host)
        let memoryLength = try file.sectionLength("MEMP")
        let pages = Int(memorySize / pageSize)
        let bitmapBytes = (pages + 63) / 64 * 8
        var bitmapSection = SnapshotReader(try file.take(min(bitmapBytes, memoryLength), section: "MEMP"), section: "MEMP")
        var words: [UInt64] = []
        for _ in 0..<(pages + 63) / 64 { words.append(try bitmapSection.u64()) }
        if pages % 64 != 0, words[words.count - 1] >> UInt64(pages % 64) != 0 {
            throw SnapshotFileError.badValue(section: "MEMP", "pages marked present beyond the memory's \(pages)")
        }
        let present = PageBitmap(pages: pages, words: words)
        let pagesStart = file.offset, pagesLength = memoryLength - bitmapBytes
        guard pagesLength == present.count * pageBytes else {
            throw SnapshotFileError.badValue(section: "MEMP", "\(present.count) pages marked present, \(pagesLength) bytes of pages")
        }
        var range = 0
        try present.forEachPage { page in
            // Pages come lowest first: the range that holds one holds the next or lies below it.
            while range < ram.count && ram[range].upperBound <= UInt64(page) * pageSize { range += 1 }
            guard range < ram.count, ram[range].lowerBound <= UInt64(page) * pageSize else {
                throw SnapshotFileError.badValue(section: "MEMP", "page \(hex(UInt64(page) * pageSize)) marked present outside RAM")
            }
        }
        try copyPages(present, from: source, at: pagesStart, into: snapshot)
        try source.checkUnshrunk()
        file.skip(pagesLength)
        try file.end()
        return snapshot
    }

    /// Copies the pages marked present, stored from `start` in page order,
    /// into the snapshot's memory file, which starts as zeros: pages that
    /// lie in a hole of the file, or that hold only zeros, are not copied
    /// (each copy makes a page of the memory file resident). Read through a
    /// buffer of 256 pages.
    private static func copyPages(_ present: PageBitmap, from source: PageSource, at start: Int, into snapshot: GuestSnapshot) throws {
        guard present.count > 0 else { return }
        // Which pages, by their place in the file, may hold data.
        var wanted: [Range<Int>] = []
        for run in source.dataRuns(in: start..<start + present.count * pageBytes) {
            let first = (run.lowerBound - start) / pageBytes, end = (run.upperBound - start + (pageBytes - 1)) / pageBytes
            if let last = wanted.last, last.upperBound >= first {
                wanted[wanted.count - 1] = last.lowerBound..<max(last.upperBound, end)
            } else {
                wanted.append(first..<end)
            }
        }
        guard !wanted.isEmpty else { return }
        let bufferPages = 256
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferPages * pageBytes, alignment: pageBytes)
        defer { buffer.deallocate() }
        var bufferFirst = 0, bufferCount = 0, index = 0, run = 0
        try present.forEachPage { page in
            defer { index += 1 }
            while run < wanted.count && wanted[run].upperBound <= index { run += 1 }
            guard run < wanted.count, wanted[run].contains(index) else { return }
            if index >= bufferFirst + bufferCount {
                bufferFirst = index
                bufferCount = min(bufferPages, wanted[run].upperBound - index)
                try source.read(at: start + index * pageBytes, count: bufferCount * pageBytes, into: buffer)
            }
            let bytes = buffer + (index - bufferFirst) * pageBytes
            if !isZero(bytes) { (snapshot.memory + page * pageBytes).copyMemory(from: bytes, byteCount: pageBytes) }
        }
    }

    private static func isZero(_ page: UnsafeMutableRawPointer) -> Bool {
        let words = page.assumingMemoryBound(to: UInt64.self)
        for index in 0..<512 where words[index] != 0 { return false }
        return true
    }

    private static func writeAll(_ descriptor: Int32, _ start: UnsafeRawPointer, _ count: Int, _ path: String) throws {
        var done = 0
        while done < count {
            let result = Glibc.write(descriptor, start + done, count - done)
            if result < 0 {
                if errno == EINTR { continue }
                throw SnapshotFileError.io("write \(path)", errno: errno)
            }
            done += result
        }
    }
}

/// A snapshot file that cannot be written or read, and why.
public enum SnapshotFileError: Error, Equatable, CustomStringConvertible {
    case notASnapshot
    case unsupportedVersion(UInt32)
    case truncated(section: String, needed: Int, available: Int)
    /// A count of elements that the rest of its section cannot hold.
    case countTooLarge(section: String, count: UInt64, elementSize: Int, available: Int)
    case unexpectedSection(found: String, expected: String)
    case badValue(section: String, String)
    case trailingBytes(section: String, count: Int)
    case notSavable(String)
    case io(String, errno: Int32)

    public var description: String {
        switch self {
        case .notASnapshot: return "not a kvmhost snapshot (it does not start with KVMHSNAP)"
        case .unsupportedVersion(let version):
            return "a snapshot of format version \(version); this kvmhost reads version \(SnapshotFile.version)"
        case .truncated(let section, let needed, let available):
            return "the snapshot is cut short in section \(section): \(needed) bytes needed, \(available) there"
        case .countTooLarge(let section, let count, let elementSize, let available):
            return "the snapshot is cut short in section \(section): \(count) items of \(elementSize) bytes, "
                + "where \(available) bytes are left"
        case .unexpectedSection(let found, let expected): return "section \(found) where \(expected) belongs"
        case .badValue(let section, let problem): return "section \(section): \(problem)"
        case .trailingBytes(let section, let count): return "\(count) bytes after the end of section \(section)"
        case .notSavable(let why): return "this snapshot cannot go to a file: \(why)"
        case .io(let what, let code): return code == 0 ? what : "\(what): \(String(cString: strerror(code)))"
        }
    }
}

/// Where a snapshot's bytes come from: a file, read by pread(2) (never
/// mapped), or bytes in memory (the fuzz target's).
enum PageSource {
    case file(descriptor: Int32, path: String, size: Int)
    case memory(UnsafeRawBufferPointer)

    var size: Int {
        switch self {
        case .file(_, _, let size): return size
        case .memory(let bytes): return bytes.count
        }
    }

    /// `count` bytes at `offset`, which the caller checked lie inside `size`.
    func read(at offset: Int, count: Int, into target: UnsafeMutableRawPointer) throws {
        switch self {
        case .file(let descriptor, let path, _):
            try UserFiles.read(descriptor, path: path, at: offset, count: count, into: target)
        case .memory(let bytes):
            target.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
        }
    }

    /// Throws when the file is now shorter than when it was opened: its
    /// holes past the new end were skipped, not read, so a short read alone
    /// would not show it.
    func checkUnshrunk() throws {
        guard case .file(let descriptor, let path, let size) = self else { return }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileAccessError(path: path, access: .read, errno: errno) }
        guard Int(status.st_size) >= size else {
            throw FileAccessError(path: path, access: .read, reason: "it ended at byte \(status.st_size), "
                                  + "before the \(size) it held when opened (it shrank while it was read)")
        }
    }

    func bytes(at offset: Int, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(at: offset, count: count, into: UnsafeMutableRawPointer(buffer.baseAddress!))
            initialized = count
        }
    }

    /// The runs of `range` that may hold data: the file's data between its
    /// holes (lseek SEEK_DATA and SEEK_HOLE), all of it in memory.
    func dataRuns(in range: Range<Int>) -> [Range<Int>] {
        guard case .file(let descriptor, _, _) = self else { return [range] }
        var runs: [Range<Int>] = []
        var offset = range.lowerBound
        while offset < range.upperBound {
            let data = lseek(descriptor, off_t(offset), 3 /* SEEK_DATA */)
            // ENXIO: no data from here on. Any other failure: take the rest as data.
            if data < 0 { if errno != ENXIO { runs.append(offset..<range.upperBound) }; break }
            guard Int(data) < range.upperBound else { break }
            let hole = lseek(descriptor, data, 4 /* SEEK_HOLE */)
            let end = hole < 0 ? range.upperBound : min(Int(hole), range.upperBound)
            runs.append(Int(data)..<end)
            offset = end
        }
        return runs
    }
}

/// The file's own level of a snapshot: the header's fields, each section
/// read whole into memory (sections other than the pages, together at most
/// `SnapshotFile.maximumHeadBytes`), checked against the file's size first.
struct SnapshotCursor {
    let source: PageSource
    private(set) var offset = 0
    private var headBytes = 0

    init(source: PageSource) { self.source = source }

    var remaining: Int { source.size - offset }

    mutating func skip(_ count: Int) { offset += count }

    mutating func take(_ count: Int, section: String = "file") throws -> [UInt8] {
        guard count >= 0, count <= remaining else { throw SnapshotFileError.truncated(section: section, needed: count, available: remaining) }
        defer { offset += count }
        return try source.bytes(at: offset, count: count)
    }

    mutating func u32() throws -> UInt32 {
        var reader = SnapshotReader(try take(4), section: "file")
        return try reader.u32()
    }

    mutating func u64() throws -> UInt64 {
        var reader = SnapshotReader(try take(8), section: "file")
        return try reader.u64()
    }

    /// The next section's length, which must be `tag`, its bytes left unread.
    mutating func sectionLength(_ tag: String) throws -> Int {
        let found = String(decoding: try take(4), as: UTF8.self)
        guard found == tag else { throw SnapshotFileError.unexpectedSection(found: escapingControlCharacters(found), expected: tag) }
        let length = try u64()
        guard length <= UInt64(remaining) else { throw SnapshotFileError.truncated(section: tag, needed: Int(clamping: length), available: remaining) }
        return Int(length)
    }

    /// The next section, which must be `tag`, read whole.
    mutating func section(_ tag: String) throws -> SnapshotReader {
        let length = try sectionLength(tag)
        headBytes += length
        guard headBytes <= SnapshotFile.maximumHeadBytes else {
            throw SnapshotFileError.badValue(section: tag, "the sections before the pages take \(headBytes) bytes or more, "
                                             + "more than the \(SnapshotFile.maximumHeadBytes) a guest's state may")
        }
        return SnapshotReader(try take(length, section: tag), section: tag)
    }

    func end() throws {
        guard remaining == 0 else { throw SnapshotFileError.trailingBytes(section: "file", count: remaining) }
    }
}

/// A bounds-checked cursor over a section's bytes: every read says how
/// many bytes it needs, and gets a typed error if they are not there.
struct SnapshotReader {
    private let bytes: [UInt8]
    private var offset = 0
    let name: String

    init(_ bytes: [UInt8], section: String) {
        self.bytes = bytes
        name = section
    }

    var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw SnapshotFileError.truncated(section: name, needed: count, available: remaining) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    private mutating func load<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) })
    }

    mutating func u16() throws -> UInt16 { try load(UInt16.self) }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }
    mutating func bytes(_ count: Int) throws -> [UInt8] { Array(try take(count)) }

    mutating func flag() throws -> Bool {
        let value = try bytes(1)[0]
        guard value <= 1 else { throw SnapshotFileError.badValue(section: name, "a flag of \(value)") }
        return value == 1
    }

    /// A u64 count of elements of `elementSize` bytes, refused when the
    /// section cannot hold that many (before anything is allocated for them).
    mutating func count(elementSize: Int) throws -> Int {
        let count = try u64()
        guard count <= UInt64(remaining / elementSize) else {
            throw SnapshotFileError.countTooLarge(section: name, count: count, elementSize: elementSize, available: remaining)
        }
        return Int(count)
    }

    /// Text: a u64 byte count, then the bytes (UTF-8, repaired if not).
    mutating func text() throws -> String {
        String(decoding: try bytes(try count(elementSize: 1)), as: UTF8.self)
    }

    /// A value in the guest protocol's words (`appendWords(of:)`): a u64
    /// word count, then the words, decoded by the protocol's own codec.
    mutating func wire<T: Wire>(_ type: T.Type) throws -> T {
        let words = try take(try count(elementSize: 8) * 8)
        do {
            return try words.withUnsafeBytes { words in
                var decoder = WireDecoder(words: words)
                let value = try decoder.decode(T.self)
                try decoder.finish()
                return value
            }
        } catch {
            throw SnapshotFileError.badValue(section: name, "a \(T.self) in malformed words: \(error)")
        }
    }

    /// A KVM structure, its bytes as KVM lays it out.
    mutating func raw<T>() throws -> T {
        let source = try take(MemoryLayout<T>.size)
        return withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { buffer in
            source.withUnsafeBytes { source in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: source.baseAddress!, byteCount: MemoryLayout<T>.size)
            }
            return buffer[0]
        }
    }

    func end() throws {
        guard remaining == 0 else { throw SnapshotFileError.trailingBytes(section: name, count: remaining) }
    }
}

private extension Array where Element == UInt8 {
    mutating func append<T: FixedWidthInteger>(littleEndian value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendText(_ text: String) {
        append(littleEndian: UInt64(text.utf8.count))
        append(contentsOf: Array(text.utf8))
    }

    /// `value` in the guest protocol's words, with their count first.
    mutating func appendWords<T: Wire>(of value: T) {
        var scratch = [UInt8](repeating: 0, count: recordMaximumSize)
        let words = scratch.withUnsafeMutableBytes { raw -> Int in
            var writer = RecordWriter(base: raw.baseAddress!, capacity: raw.count, kind: .command, sequence: 0)
            writer.encode(value)
            precondition(writer.complete, "a kept report fits in a record, as it came in one")
            return (writer.finish() - recordHeaderSize) / 8
        }
        append(littleEndian: UInt64(words))
        append(contentsOf: scratch[recordHeaderSize..<recordHeaderSize + words * 8])
    }

    mutating func appendRaw<T>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }

    mutating func section(_ tag: String, _ body: (inout [UInt8]) -> Void) {
        var payload: [UInt8] = []
        body(&payload)
        append(contentsOf: Array(tag.utf8))
        append(littleEndian: UInt64(payload.count))
        append(contentsOf: payload)
    }
}
