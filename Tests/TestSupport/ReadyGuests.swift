import GuestImage
import KVMHost

/// Fresh, ready guests of the built-in kernel without a boot each: on kvm,
/// a new VM from one snapshot taken after the ready report (its memory
/// copy-on-write, so every guest is as fresh as a booted one); on tcg, a
/// boot, since QEMU keeps the vCPU. For tests that start from a ready guest
/// and do not check the boot itself.
public enum ReadyGuests {
    /// One per process, made at the first use: XCTest runs a process's
    /// tests one at a time.
    nonisolated(unsafe) private static var ready: GuestSnapshot?

    public static func guest(on backend: Backend) throws -> LiveGuest {
        let kernel = try GuestImage.kernel()
        guard backend == .kvm else {
            let guest = try LiveGuest(kernel: kernel, configuration: .init(backend: backend))
            _ = try guest.boot()
            return guest
        }
        if ready == nil {
            let booted = try LiveGuest(kernel: kernel)
            _ = try booted.boot()
            ready = try booted.snapshot()
        }
        return try LiveGuest(snapshot: ready!, kernel: kernel)
    }
}
