import GuestImage
import KVMHost

/// Fresh, ready guests of the built-in kernel without a boot each: on kvm,
/// a new VM from one snapshot taken after the ready report (its memory
/// copy-on-write, so every guest is as fresh as a booted one); on tcg, and
/// with several CPUs, a boot. For tests that start from a ready guest
/// and do not check the boot itself.
public enum ReadyGuests {
    /// What a booted guest's memory and vCPU depend on besides the kernel:
    /// a guest from the snapshot runs under the configuration's CPUID, which
    /// must be the one the kernel found at boot (it chose its paging modes
    /// from it).
    private struct Machine: Hashable {
        var memorySize: Int
        var memoryHoles: [Range<UInt64>]
        var cpu: String
        var cpus: Int
    }

    /// One snapshot per machine and process, made at its first use: XCTest
    /// runs a process's tests one at a time.
    nonisolated(unsafe) private static var ready: [Machine: (snapshot: GuestSnapshot, report: ReadyRecord)] = [:]

    /// A guest of `configuration` as its boot leaves it, and the ready report
    /// the boot gave.
    public static func guest(configuration: LiveGuest.Configuration) throws -> (LiveGuest, ReadyRecord) {
        let kernel = try GuestImage.kernel()
        guard configuration.backend == .kvm else {
            let guest = try LiveGuest(kernel: kernel, configuration: configuration)
            return (guest, try guest.boot())
        }
        let machine = Machine(memorySize: configuration.memorySize, memoryHoles: configuration.memoryHoles, cpu: "\(configuration.cpu)",
                              cpus: configuration.cpuCount)
        if ready[machine] == nil {
            let booted = try KVMGuest(kernel: kernel, configuration: configuration)
            let report = try booted.boot()
            ready[machine] = (try booted.snapshot(), report)
        }
        let (snapshot, report) = ready[machine]!
        return (try KVMGuest(snapshot: snapshot, kernel: kernel, configuration: configuration), report)
    }

    public static func guest(on backend: Backend) throws -> LiveGuest {
        try guest(configuration: .init(backend: backend)).0
    }
}

extension GuestBehaviourTestCase {
    /// A fresh, ready guest of the built-in kernel on the current backend
    /// (`ReadyGuests`), and its ready report.
    public func readyGuest(configuration: LiveGuest.Configuration = .init()) throws -> (LiveGuest, ReadyRecord) {
        guard let backend else { preconditionFailure("readyGuest() outside onEachBackend") }
        var configuration = configuration
        configuration.backend = backend
        return try ReadyGuests.guest(configuration: configuration)
    }
}
