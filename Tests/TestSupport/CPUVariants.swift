import GuestMemory
import GuestProtocol
import KVMHost

/// The CPUs the live suite's paging checks run under on a backend: its
/// default, without NX, and (where the backend has them) with SMEP and
/// SMAP and with 1 GiB pages.
public enum CPUVariants {
    public static func all(on backend: Backend) -> [CPUSelection] {
        var variants = [CPUSelection(), CPUSelection(disabled: [.nx])]
        if backend == .tcg { variants.append(CPUSelection(enabled: [.smep, .smap, .pdpe1gb])) }
        return variants
    }
}

/// Where a backend's MMU is known to differ from the architecture the
/// model follows, in one place.
public enum MMUQuirks {
    /// A reserved-bit page fault has P set (Intel SDM: P is 0 only for a
    /// not-present entry), as this KVM reports it; QEMU 7.2's TCG leaves P
    /// clear (measured: 0x8 for a read through an entry with bit 63 set and
    /// EFER.NXE off, where this KVM gives 0x9).
    public static func expectedFault(_ predicted: UInt64?, on backend: Backend) -> UInt64? {
        guard backend == .tcg, let code = predicted, code & PageFaultError.reservedBit != 0 else { return predicted }
        return code & ~PageFaultError.protection
    }
}
