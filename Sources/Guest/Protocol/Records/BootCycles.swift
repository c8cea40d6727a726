// Where a boot's time goes, in the guest's TSC cycles from its first
// long-mode instruction to the ready report: the host learns the kernel's
// own part of a boot (not VM creation, not QEMU's start) and its parts that
// grow with RAM.

public struct BootCycles: Wire, Equatable, Sendable {
    /// From the first long-mode instruction to the ready report.
    public var total: UInt64
    /// The frame allocator built over the memory map (its bitmap, the
    /// reservations).
    public var physicalMemory: UInt64
    /// The kernel's own page tables: its image, heap and the direct map of
    /// all RAM.
    public var addressSpace: UInt64

    public init(total: UInt64, physicalMemory: UInt64, addressSpace: UInt64) {
        self.total = total
        self.physicalMemory = physicalMemory
        self.addressSpace = addressSpace
    }
}
