// Where guest RAM lies in guest-physical memory, and how much of it a
// machine may have. Compiled into both sides: the host builds the machine
// (KVM memory slots, the memory map, QEMU's -m) from it, and the kernel's
// direct map and frame bitmap must reach its top.

public enum GuestRAM {
    public static let minimumBytes: UInt64 = 4 << 20
    public static let defaultBytes: UInt64 = 64 << 20
    /// The kernel's direct map is one PML4 slot (512 GiB) shared with its
    /// image; KVM here spends about 4.6 ms a GiB registering a memory slot
    /// (shadow paging's per-page metadata), 1.2 s for this much.
    public static let maximumBytes: UInt64 = 256 << 30

    /// As QEMU's pc machine splits RAM (hw/i386/pc_piix.c): RAM of 3.5 GiB
    /// or more keeps 3 GiB below the 32-bit device hole and the rest from
    /// 4 GiB; less lies whole from 0. Both backends then give the guest RAM
    /// at the same addresses.
    public static let splitAtOrAbove: UInt64 = 0xE000_0000
    public static let belowHoleWhenSplit: UInt64 = 0xC000_0000
    public static let aboveHoleStart: UInt64 = 1 << 32

    /// The highest end of RAM: that of the most RAM, split.
    public static let maximumEnd: UInt64 = aboveHoleStart + maximumBytes - belowHoleWhenSplit
    /// Ranges of RAM a machine laid out by hand may have (a KVM memory slot each).
    public static let maximumRanges = 32

    /// RAM of `bytes` as ranges of guest-physical addresses, lowest first.
    public static func ranges(bytes: UInt64) -> (below: Range<UInt64>, above: Range<UInt64>?) {
        guard bytes >= splitAtOrAbove else { return (0..<bytes, nil) }
        return (0..<belowHoleWhenSplit, aboveHoleStart..<(aboveHoleStart + bytes - belowHoleWhenSplit))
    }
}
