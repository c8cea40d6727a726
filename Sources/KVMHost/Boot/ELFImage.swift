/// What is wrong with a kernel image, precisely enough to fix it.
public enum ELFLoadError: Error, Equatable, CustomStringConvertible {
    case truncatedHeader(size: Int)
    case notELF
    case notELF64(elfClass: UInt8)
    case notLittleEndian(encoding: UInt8)
    case wrongMachine(UInt16)
    case notExecutable(type: UInt16)
    case badProgramHeaderSize(UInt16)
    case programHeadersOutOfFile(offset: UInt64, count: Int, fileSize: Int)
    case segmentOutOfFile(index: Int, offset: UInt64, size: UInt64, fileSize: Int)
    case segmentFileSizeExceedsMemorySize(index: Int, fileSize: UInt64, memorySize: UInt64)
    case segmentAddressOverflow(index: Int, address: UInt64, size: UInt64)
    case segmentOutsideGuestRAM(index: Int, start: UInt64, end: UInt64)
    case segmentsOverlap(first: Int, second: Int)
    case segmentOverlapsBootInfo(index: Int, bootInfo: Range<UInt64>)
    case noLoadableSegments
    case malformedNote(offset: UInt64)
    case missingPVHEntry
    case tooManyProgramHeaders(count: Int, limit: Int)
    case tooManyNotes(limit: Int)
    /// The PVH entry is not in the bytes the image loads from its file: it
    /// would start in zeroed memory, outside RAM, or in the boot information.
    case entryNotInLoadedCode(entry: UInt32)

    public var description: String {
        switch self {
        case .truncatedHeader(let size): return "the image has \(size) bytes, fewer than an ELF64 header"
        case .notELF: return "the image does not start with the ELF magic"
        case .notELF64(let elfClass): return "ELF class \(elfClass) is not ELF64 (2)"
        case .notLittleEndian(let encoding): return "ELF data encoding \(encoding) is not little endian (1)"
        case .wrongMachine(let machine): return "ELF machine \(machine) is not x86-64 (62)"
        case .notExecutable(let type): return "ELF type \(type) is not an executable (2)"
        case .badProgramHeaderSize(let size): return "program header size \(size) is not 56"
        case .programHeadersOutOfFile(let offset, let count, let fileSize):
            return "\(count) program headers at offset \(offset) run past the end of the \(fileSize)-byte file"
        case .segmentOutOfFile(let index, let offset, let size, let fileSize):
            return "segment \(index): \(size) bytes at file offset \(offset) run past the end of the \(fileSize)-byte file"
        case .segmentFileSizeExceedsMemorySize(let index, let fileSize, let memorySize):
            return "segment \(index): file size \(fileSize) exceeds memory size \(memorySize)"
        case .segmentAddressOverflow(let index, let address, let size):
            return "segment \(index): \(hex(address)) + \(size) overflows 64 bits"
        case .segmentOutsideGuestRAM(let index, let start, let end):
            return "segment \(index): [\(hex(start)), \(hex(end))) is not inside the guest's usable RAM"
        case .segmentsOverlap(let first, let second): return "segments \(first) and \(second) overlap in physical memory"
        case .segmentOverlapsBootInfo(let index, let bootInfo):
            return "segment \(index) overlaps the PVH boot information at [\(hex(bootInfo.lowerBound)), \(hex(bootInfo.upperBound)))"
        case .noLoadableSegments: return "the image has no PT_LOAD segment"
        case .malformedNote(let offset): return "the note at file offset \(offset) runs past its segment"
        case .missingPVHEntry: return "the image has no PVH entry note (Xen, XEN_ELFNOTE_PHYS32_ENTRY)"
        case .tooManyProgramHeaders(let count, let limit):
            return "the image has \(count) program headers; a kernel has a handful, and the host takes at most \(limit)"
        case .tooManyNotes(let limit): return "the image's note segments hold more than \(limit) notes"
        case .entryNotInLoadedCode(let entry):
            return "the PVH entry \(hex(UInt64(entry))) is not inside the file bytes of any loadable segment"
        }
    }
}

/// An ELF64 x86-64 executable with a PVH entry, parsed and checked, not yet loaded.
public struct ELFImage: Sendable {
    public struct Segment: Equatable, Sendable {
        public let index: Int
        public let virtualAddress: UInt64
        public let physicalAddress: UInt64
        /// PF_X 1, PF_W 2, PF_R 4.
        public let permissions: UInt32
        public let fileOffset: UInt64
        public let fileSize: UInt64
        public let memorySize: UInt64
        public var physicalRange: Range<UInt64> { physicalAddress..<(physicalAddress + memorySize) }
    }

    public let bytes: [UInt8]
    public let segments: [Segment]
    /// The 32-bit physical entry from the PVH note.
    public let pvhEntry: UInt32

    static let headerSize = 64
    static let programHeaderSize = 56
    static let loadType: UInt32 = 1
    static let noteType: UInt32 = 4
    static let pvhNoteType: UInt32 = 18  // XEN_ELFNOTE_PHYS32_ENTRY
    /// Program headers the host reads: a kernel has a handful, and the
    /// overlap check and note walk stay cheap within this many.
    public static let maximumProgramHeaders = 128
    /// Notes read across all note segments, which may all cover the same bytes.
    public static let maximumNotes = 1024

    public init(bytes: [UInt8]) throws {
        self.bytes = bytes
        guard bytes.count >= Self.headerSize else { throw ELFLoadError.truncatedHeader(size: bytes.count) }
        guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else { throw ELFLoadError.notELF }
        guard bytes[4] == 2 else { throw ELFLoadError.notELF64(elfClass: bytes[4]) }
        guard bytes[5] == 1 else { throw ELFLoadError.notLittleEndian(encoding: bytes[5]) }
        let type = bytes.u16(16)
        let machine = bytes.u16(18)
        guard machine == 62 else { throw ELFLoadError.wrongMachine(machine) }
        guard type == 2 else { throw ELFLoadError.notExecutable(type: type) }
        let tableOffset = bytes.u64(32)
        let entrySize = bytes.u16(54)
        let count = Int(bytes.u16(56))
        guard entrySize == Self.programHeaderSize else { throw ELFLoadError.badProgramHeaderSize(entrySize) }
        guard count <= Self.maximumProgramHeaders else {
            throw ELFLoadError.tooManyProgramHeaders(count: count, limit: Self.maximumProgramHeaders)
        }
        guard tableOffset <= UInt64(bytes.count),
              UInt64(bytes.count) - tableOffset >= UInt64(count * Self.programHeaderSize) else {
            throw ELFLoadError.programHeadersOutOfFile(offset: tableOffset, count: count, fileSize: bytes.count)
        }

        var segments: [Segment] = []
        var entry: UInt32?
        var notesLeft = Self.maximumNotes
        for index in 0..<count {
            let header = Int(tableOffset) + index * Self.programHeaderSize
            let kind = bytes.u32(header)
            let permissions = bytes.u32(header + 4)
            let offset = bytes.u64(header + 8)
            let virtual = bytes.u64(header + 16)
            let physical = bytes.u64(header + 24)
            let fileSize = bytes.u64(header + 32)
            let memorySize = bytes.u64(header + 40)
            guard kind == Self.loadType || kind == Self.noteType else { continue }
            guard offset <= UInt64(bytes.count), UInt64(bytes.count) - offset >= fileSize else {
                throw ELFLoadError.segmentOutOfFile(index: index, offset: offset, size: fileSize, fileSize: bytes.count)
            }
            if kind == Self.noteType {
                if let found = try Self.pvhEntry(in: bytes, offset: Int(offset), size: Int(fileSize), notesLeft: &notesLeft) {
                    entry = found
                }
                continue
            }
            guard fileSize <= memorySize else {
                throw ELFLoadError.segmentFileSizeExceedsMemorySize(index: index, fileSize: fileSize, memorySize: memorySize)
            }
            guard !physical.addingReportingOverflow(memorySize).overflow else {
                throw ELFLoadError.segmentAddressOverflow(index: index, address: physical, size: memorySize)
            }
            let segment = Segment(index: index, virtualAddress: virtual, physicalAddress: physical,
                                  permissions: permissions, fileOffset: offset,
                                  fileSize: fileSize, memorySize: memorySize)
            segments.append(segment)
        }
        guard !segments.isEmpty else { throw ELFLoadError.noLoadableSegments }
        // Sorted by address, only neighbours can overlap first.
        let sorted = segments.filter { $0.memorySize > 0 }.sorted { ($0.physicalAddress, $0.index) < ($1.physicalAddress, $1.index) }
        for (lower, upper) in zip(sorted, sorted.dropFirst()) where lower.physicalRange.overlaps(upper.physicalRange) {
            throw ELFLoadError.segmentsOverlap(first: min(lower.index, upper.index), second: max(lower.index, upper.index))
        }
        guard let entry else { throw ELFLoadError.missingPVHEntry }
        guard segments.contains(where: { UInt64(entry) >= $0.physicalAddress && UInt64(entry) - $0.physicalAddress < $0.fileSize }) else {
            throw ELFLoadError.entryNotInLoadedCode(entry: entry)
        }
        self.segments = segments
        pvhEntry = entry
    }

    /// Walks the notes of one PT_NOTE segment for the PVH entry.
    private static func pvhEntry(in bytes: [UInt8], offset: Int, size: Int, notesLeft: inout Int) throws -> UInt32? {
        var cursor = offset
        let end = offset + size
        while cursor + 12 <= end {
            guard notesLeft > 0 else { throw ELFLoadError.tooManyNotes(limit: maximumNotes) }
            notesLeft -= 1
            let nameSize = Int(bytes.u32(cursor))
            let descriptorSize = Int(bytes.u32(cursor + 4))
            let type = bytes.u32(cursor + 8)
            let nameStart = cursor + 12
            let descriptorStart = nameStart + (nameSize + 3) & ~3
            let next = descriptorStart + (descriptorSize + 3) & ~3
            guard nameSize <= size, descriptorSize <= size, next <= end else {
                throw ELFLoadError.malformedNote(offset: UInt64(cursor))
            }
            let isXen = nameSize == 4 && Array(bytes[nameStart..<nameStart + 4]) == [0x58, 0x65, 0x6E, 0x00]
            if isXen && type == pvhNoteType && (descriptorSize == 4 || descriptorSize == 8) {
                return bytes.u32(descriptorStart)
            }
            cursor = next
        }
        return nil
    }

    /// Copies the segments into guest memory and zeroes their tails, after
    /// checking that each lies in usable RAM of `map` and clear of `bootInfo`.
    /// `memoryIsZeroed` says the segments' memory holds zeros already (a new
    /// VM's memory does): their tails are then left untouched, which spares
    /// the host from faulting in every page of the kernel's bss and heap.
    public func load(into memory: GuestMemory, map: PhysicalMemoryMap, keepingFree bootInfo: Range<UInt64>,
                     memoryIsZeroed: Bool = false) throws {
        try checkPlacement(map: map, keepingFree: bootInfo)
        // An empty segment has nothing to load, wherever it says it lies
        // (QEMU's loader skips it too), and no memory to check it against.
        for segment in segments where segment.memorySize > 0 {
            try memory.withMutableBytes(at: segment.physicalAddress, count: Int(segment.memorySize)) { target in
                let fileBytes = Int(segment.fileSize)
                bytes.withUnsafeBytes { source in
                    let start = Int(segment.fileOffset)
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<start + fileBytes]))
                }
                if fileBytes < target.count && !memoryIsZeroed {
                    UnsafeMutableRawBufferPointer(rebasing: target[fileBytes...]).initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
        }
    }
}

extension ELFImage {
    /// What `load` checks before it writes a byte: every segment lies in
    /// usable RAM of `map` and off `bootInfo`. QEMU (the tcg backend) loads
    /// the image itself, so this is how a kernel it would load somewhere
    /// else than KVM does is refused the same way.
    public func checkPlacement(map: PhysicalMemoryMap, keepingFree bootInfo: Range<UInt64>) throws {
        for segment in segments {
            let range = segment.physicalRange
            guard map.isUsableRAM(range) else {
                throw ELFLoadError.segmentOutsideGuestRAM(index: segment.index, start: range.lowerBound, end: range.upperBound)
            }
            guard !range.overlaps(bootInfo) else {
                throw ELFLoadError.segmentOverlapsBootInfo(index: segment.index, bootInfo: bootInfo)
            }
        }
    }
}

extension Array where Element == UInt8 {
    func u16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}
