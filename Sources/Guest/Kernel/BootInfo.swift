// The PVH start-info block (hvm_start_info, version 1) and the memory map it
// points to, read through the direct map.

struct BootInfo {
    static let magic: UInt32 = 0x336E_C578
    static let startInfoSize: UInt64 = 56

    let startInfoPhysical: UInt64
    let memoryMapPhysical: UInt64
    let memoryMapCount: Int
    /// The ACPI RSDP (rsdp_paddr), 0 when the loader gave none.
    let rsdpPhysical: UInt64

    /// Nil when the block is missing or older than version 1 (no memory map).
    init?(startInfoPhysical: UInt64) {
        guard startInfoPhysical != 0 else { return nil }
        let info = UnsafeRawPointer(KernelLayout.directMap(startInfoPhysical))
        guard info.loadUnaligned(as: UInt32.self) == BootInfo.magic,
              info.loadUnaligned(fromByteOffset: 4, as: UInt32.self) >= 1 else { return nil }
        self.startInfoPhysical = startInfoPhysical
        memoryMapPhysical = info.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
        memoryMapCount = Int(info.loadUnaligned(fromByteOffset: 48, as: UInt32.self))
        rsdpPhysical = info.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
    }

    /// The map where it lies, through the direct map.
    var memoryMap: MemoryMapEntries {
        MemoryMapEntries(table: UnsafeRawPointer(KernelLayout.directMap(memoryMapPhysical)), count: memoryMapCount)
    }
}
