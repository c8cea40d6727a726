// The PVH start-info block (hvm_start_info, version 1) and the memory map it
// points to, read through the direct map.

struct BootInfo {
    static let magic: UInt32 = 0x336E_C578
    static let memoryMapEntrySize = 24
    static let startInfoSize: UInt64 = 56

    let startInfoPhysical: UInt64
    let memoryMapPhysical: UInt64
    let memoryMapCount: Int

    /// Nil when the block is missing or older than version 1 (no memory map).
    init?(startInfoPhysical: UInt64) {
        guard startInfoPhysical != 0 else { return nil }
        let info = UnsafeRawPointer(KernelLayout.directMap(startInfoPhysical))
        guard info.loadUnaligned(as: UInt32.self) == BootInfo.magic,
              info.loadUnaligned(fromByteOffset: 4, as: UInt32.self) >= 1 else { return nil }
        self.startInfoPhysical = startInfoPhysical
        memoryMapPhysical = info.loadUnaligned(fromByteOffset: 40, as: UInt64.self)
        memoryMapCount = Int(info.loadUnaligned(fromByteOffset: 48, as: UInt32.self))
    }

    func memoryMapEntry(_ index: Int) -> (base: UInt64, length: UInt64, type: UInt32) {
        let entry = UnsafeRawPointer(KernelLayout.directMap(memoryMapPhysical + UInt64(index * BootInfo.memoryMapEntrySize)))
        return (entry.loadUnaligned(as: UInt64.self),
                entry.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                entry.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    }
}
