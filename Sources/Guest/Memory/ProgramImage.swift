// A user program's ELF image, as the kernel loads it: the loadable segments
// with their addresses and permissions. Only what loading needs is read;
// anything out of bounds makes the image invalid.

public struct ProgramSegment: Equatable, Sendable {
    public let virtualAddress: UInt64
    public let fileOffset: UInt64
    public let fileSize: UInt64
    public let memorySize: UInt64
    public let writable: Bool
    public let executable: Bool
}

public struct ProgramImage {
    public let entry: UInt64
    public let segmentCount: Int
    private let bytes: UnsafeRawBufferPointer

    /// Nil unless `bytes` is an ELF64 x86-64 executable whose program
    /// headers and segments all lie inside it.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 64,
              bytes.loadUnaligned(as: UInt32.self) == 0x464C_457F,
              bytes[4] == 2, bytes[5] == 1,
              bytes.loadUnaligned(fromByteOffset: 18, as: UInt16.self) == 62 else { return nil }
        let table = bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        let size = bytes.loadUnaligned(fromByteOffset: 54, as: UInt16.self)
        let count = Int(bytes.loadUnaligned(fromByteOffset: 56, as: UInt16.self))
        guard size == 56, table <= UInt64(bytes.count), UInt64(bytes.count) - table >= UInt64(count * 56) else { return nil }
        self.bytes = bytes
        entry = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        segmentCount = count
        for index in 0..<count where isLoadable(index) {
            let segment = self.segment(index)
            guard segment.fileOffset <= UInt64(bytes.count), UInt64(bytes.count) - segment.fileOffset >= segment.fileSize,
                  segment.fileSize <= segment.memorySize,
                  !segment.virtualAddress.addingReportingOverflow(segment.memorySize).overflow else { return nil }
        }
    }

    public func isLoadable(_ index: Int) -> Bool {
        bytes.loadUnaligned(fromByteOffset: header(index), as: UInt32.self) == 1
    }

    public func segment(_ index: Int) -> ProgramSegment {
        let at = header(index)
        let flags = bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
        return ProgramSegment(virtualAddress: bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self),
                              fileOffset: bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self),
                              fileSize: bytes.loadUnaligned(fromByteOffset: at + 32, as: UInt64.self),
                              memorySize: bytes.loadUnaligned(fromByteOffset: at + 40, as: UInt64.self),
                              writable: flags & 2 != 0, executable: flags & 1 != 0)
    }

    /// The file bytes of a segment.
    public func contents(_ segment: ProgramSegment) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(segment.fileOffset)..<Int(segment.fileOffset + segment.fileSize)])
    }

    private func header(_ index: Int) -> Int {
        Int(bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self)) + index * 56
    }
}
