// The I/O ports the guest kernel and KVMHost agree on. Compiled into both,
// from the one definition in Sources/Guest/Machine/include/machine.h.

#if canImport(MachineFacts)
import MachineFacts
#endif

public enum GuestPort {
    /// COM1, a 16550 UART: console text out, keyboard text in. Eight registers.
    public static let serial = UInt16(COM1)
    public static let serialRegisterCount: UInt16 = 8

    /// The report channel. A 32-bit `out` carries the guest-physical address of a
    /// record; a 32-bit `in` returns `channelSignature` where the channel exists.
    /// (Under QEMU nothing answers here: the guest rings `serialLink` instead.)
    public static let report = UInt16(REPORT_PORT)

    /// COM2, a 16550 UART that only QEMU has: the report channel's doorbell
    /// where the report port does not answer (see `LinkFrame`). The records
    /// themselves stay in guest memory, which QEMU shares with the host.
    /// With neither (a bare `qemu-system-x86_64 -kernel`), records are printed
    /// on COM1 as "@record" lines.
    public static let serialLink = UInt16(SERIAL_LINK)

    /// The exit port, where QEMU's isa-debug-exit sits, so one guest runs on both.
    public static let exit = UInt16(EXIT_PORT)

    /// A byte read here: the kernel waits for console input (KVMHost on KVM).
    /// The read returns once the host has some for it.
    public static let inputWait = UInt16(INPUT_WAIT_PORT)
}

/// The CPUs a guest can have, 1 to `maximumCount` (the kernel's MAXIMUM_CPUS).
public enum GuestCPUs {
    public static let maximumCount = Int(MAXIMUM_CPUS)
    /// The page below 1 MiB the other CPUs start in (the SIPI's vector is its frame number).
    public static let startupPage = UInt64(AP_TRAMPOLINE_PHYSICAL)
    /// The local APIC's registers' page: no RAM may lie there.
    public static let localAPICPage = UInt64(LOCAL_APIC_PHYSICAL)
}

/// What a 32-bit read of the report port answers under KVMHost: "KVMH".
public let channelSignature = UInt32(CHANNEL_SIGNATURE)

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
    /// the console's last line names it.
    public static let missingCPUFeature = KernelExit.missingCPUFeature.rawValue
}

/// The statuses the kernel ends with when it fails. They are never a
/// guest's own status: the host reads each as the failure it names, on
/// every backend, whatever wrote it (`Shutdown` refuses them). The two the
/// assembly writes are machine.h's too (raw values must be literals; a test
/// holds them equal).
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
