/// Writes small ELF64 images for tests: well-formed ones that run a few
/// bytes of 32-bit code as a PVH guest, and malformed ones, one defect each.
public struct ELFBuilder {
    public struct Segment {
        public var type: UInt32 = 1
        public var physicalAddress: UInt64
        public var bytes: [UInt8]
        public var memorySize: UInt64?
        /// Overrides what the program header claims, for malformed images.
        public var fileOffset: UInt64?
        public var fileSize: UInt64?

        public init(physicalAddress: UInt64, bytes: [UInt8], memorySize: UInt64? = nil) {
            self.physicalAddress = physicalAddress
            self.bytes = bytes
            self.memorySize = memorySize
        }
    }

    public var segments: [Segment]
    /// Adds a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY when set.
    public var pvhEntry: UInt32?
    public var elfClass: UInt8 = 2
    public var dataEncoding: UInt8 = 1
    public var machine: UInt16 = 62
    public var type: UInt16 = 2
    public var programHeaderSize: UInt16 = 56
    public var programHeaderOffset: UInt64?
    /// Replaces the note's bytes, for malformed notes.
    public var noteBytes: [UInt8]?

    public init(segments: [Segment], pvhEntry: UInt32?) {
        self.segments = segments
        self.pvhEntry = pvhEntry
    }

    /// A guest whose PVH entry is `code`, loaded at 1 MiB like the real kernel.
    public static func guest(code: [UInt8], at address: UInt64 = 0x100000) -> ELFBuilder {
        ELFBuilder(segments: [Segment(physicalAddress: address, bytes: code)], pvhEntry: UInt32(address))
    }

    public func build() -> [UInt8] {
        var note: [UInt8] = []
        if let noteBytes {
            note = noteBytes
        } else if let pvhEntry {
            note = le32(4) + le32(8) + le32(18) + Array("Xen\0".utf8) + le64(UInt64(pvhEntry))
        }
        let headers = segments.count + (note.isEmpty ? 0 : 1)
        let tableOffset: UInt64 = 64
        var dataOffset = Int(tableOffset) + headers * 56
        var table: [UInt8] = []
        var data: [UInt8] = []
        for segment in segments {
            table += programHeader(type: segment.type, offset: segment.fileOffset ?? UInt64(dataOffset),
                                   address: segment.physicalAddress,
                                   fileSize: segment.fileSize ?? UInt64(segment.bytes.count),
                                   memorySize: segment.memorySize ?? UInt64(segment.bytes.count))
            data += segment.bytes
            dataOffset += segment.bytes.count
        }
        if !note.isEmpty {
            table += programHeader(type: 4, offset: UInt64(dataOffset), address: 0,
                                   fileSize: UInt64(note.count), memorySize: UInt64(note.count))
            data += note
        }
        var header: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, elfClass, dataEncoding, 1, 0] + Array(repeating: 0, count: 8)
        header += le16(type) + le16(machine) + le32(1)
        header += le64(UInt64(pvhEntry ?? 0))                        // e_entry
        header += le64(programHeaderOffset ?? tableOffset)          // e_phoff
        header += le64(0)                                           // e_shoff
        header += le32(0) + le16(64) + le16(programHeaderSize) + le16(UInt16(headers))
        header += le16(64) + le16(0) + le16(0)
        return header + table + data
    }

    private func programHeader(type: UInt32, offset: UInt64, address: UInt64, fileSize: UInt64, memorySize: UInt64) -> [UInt8] {
        // A note's entries are 4-byte aligned, and QEMU aligns the note's name by p_align.
        le32(type) + le32(7) + le64(offset) + le64(address) + le64(address) + le64(fileSize) + le64(memorySize)
            + le64(type == 4 ? 4 : 0x1000)
    }
}

public func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
public func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
public func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
