/// E820 memory types, as PVH's hvm_memmap_table_entry carries them.
public enum MemoryType {
    public static let ram: UInt32 = 1
    public static let reserved: UInt32 = 2
    public static let acpiReclaimable: UInt32 = 3
    public static let acpiNVS: UInt32 = 4
    public static let unusable: UInt32 = 5
}
