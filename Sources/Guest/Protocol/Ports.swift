// The I/O ports the guest kernel and KVMHost agree on. Compiled into both.

public enum GuestPort {
    /// COM1, a 16550 UART: console text out, keyboard text in. Eight registers.
    public static let serial: UInt16 = 0x3F8
    public static let serialRegisterCount: UInt16 = 8

    /// The report channel. A 32-bit `out` carries the guest-physical address of a
    /// record; a 32-bit `in` returns `channelSignature` where the channel exists.
    /// (Under QEMU nothing answers here: the guest rings `serialLink` instead.)
    public static let report: UInt16 = 0x1000

    /// COM2, a 16550 UART that only QEMU has: the report channel's doorbell
    /// where the report port does not answer (see `LinkFrame`). The records
    /// themselves stay in guest memory, which QEMU shares with the host.
    /// With neither (a bare `qemu-system-x86_64 -kernel`), records are printed
    /// on COM1 as "@record" lines.
    public static let serialLink: UInt16 = 0x2F8

    /// The exit port, where QEMU's isa-debug-exit sits, so one guest runs on both.
    public static let exit: UInt16 = 0xF4
}

/// What a 32-bit read of the report port answers under KVMHost: "KVMH".
public let channelSignature: UInt32 = 0x484D_564B

/// The status a guest writes to the exit port. Under QEMU's isa-debug-exit the
/// process exit code becomes `status << 1 | 1`, so the kernel sends the whole
/// status on its serial link first (`LinkFrame.exit`).
public enum ExitStatus {
    public static let success: UInt32 = 0
    public static let assertionFailed = KernelExit.assertionFailed.rawValue
    public static let exception = KernelExit.exception.rawValue
    public static let panic = KernelExit.panic.rawValue
    /// An exception inside the exception path: the kernel could not even report it.
    public static let nestedException = KernelExit.nestedException.rawValue
    /// The CPU lacks a feature the kernel needs (CPUID, checked at entry):
    /// the console's last line names it. (Assembly/machine.h has the same number.)
    public static let missingCPUFeature = KernelExit.missingCPUFeature.rawValue
}

/// The statuses the kernel ends with when it fails. They are never a
/// guest's own status: the host reads each as the failure it names, on
/// every backend, whatever wrote it (`Shutdown` refuses them).
public enum KernelExit: UInt32, CaseIterable, Sendable {
    case assertionFailed = 2
    case exception = 3
    case panic = 4
    case nestedException = 5
    case missingCPUFeature = 6

    /// What the kernel was doing when it ended so.
    public var meaning: String {
        switch self {
        case .assertionFailed: return "a kernel assertion failed"
        case .exception: return "the kernel took an exception it could not handle"
        case .panic: return "the kernel panicked"
        case .nestedException: return "the kernel took an exception inside its exception handler"
        case .missingCPUFeature: return "the CPU lacks a feature the kernel needs"
        }
    }
}
