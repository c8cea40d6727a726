// One entry of the E820-style memory map PVH hands the kernel
// (hvm_memmap_table_entry): the host writes it, the kernel reads it and
// reports it back in its ready record.

public struct MemoryMapEntry: Wire {
    public var base: UInt64
    public var length: UInt64
    /// A `MemoryType` value.
    public var type: UInt32

    public init(base: UInt64, length: UInt64, type: UInt32) {
        self.base = base
        self.length = length
        self.type = type
    }

    /// Saturating: entries a guest reports back may be any two words.
    public var end: UInt64 {
        let (sum, overflow) = base.addingReportingOverflow(length)
        return overflow ? .max : sum
    }

    public var isRAM: Bool { type == MemoryType.ram }

    /// The size of an hvm_memmap_table_entry: base, length, type, a reserved word.
    public static let pvhEntrySize = 24
}

#if !GUEST_KERNEL
extension MemoryMapEntry: Equatable, Sendable {}
#endif
