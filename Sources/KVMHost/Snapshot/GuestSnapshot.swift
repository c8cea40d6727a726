import CKVM
import Glibc

/// A guest as it stood between two events: the vCPU's whole state, a copy
/// of guest memory, and the host's side (the UART, the exit port, the
/// reports kept, the command channel). Made by `LiveGuest.snapshot()`, put
/// back by `LiveGuest.restore(_:)`, as often as wanted.
///
/// A final class: it owns the memory copy, which is shared, never copied.
public final class GuestSnapshot {
    public let memorySize: Int
    let vcpu: VCPUState
    let serial: Serial16550.State
    let host: LiveGuest.HostState
    /// The copy of guest memory, page-aligned, `memorySize` bytes.
    let memory: UnsafeMutableRawPointer

    init(of guestMemory: GuestMemory, vcpu: VCPUState, serial: Serial16550.State, host: LiveGuest.HostState) throws {
        let mapped = mmap(nil, guestMemory.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { throw KVMError.mmapFailed(bytes: guestMemory.size, errno: errno) }
        memcpy(mapped, guestMemory.base, guestMemory.size)
        memorySize = guestMemory.size
        memory = mapped
        self.vcpu = vcpu
        self.serial = serial
        self.host = host
    }

    deinit { munmap(memory, memorySize) }

    /// The snapshot's copy of guest memory, bounds-checked.
    public func withMemory<R>(at address: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (end, overflow) = address.addingReportingOverflow(UInt64(count))
        guard !overflow, end <= UInt64(memorySize) else {
            throw GuestMemoryError(address: address, length: UInt64(count), memorySize: UInt64(memorySize))
        }
        return try body(UnsafeRawBufferPointer(start: memory + Int(address), count: count))
    }

    /// The registers the snapshot holds, as a failure report shows them.
    public var cpu: CPUState { CPUState(regs: vcpu.registers, sregs: vcpu.specialRegisters) }

    /// Copies the snapshot's page `page` over the guest's.
    func copyPage(_ page: Int, into guestMemory: GuestMemory) {
        memcpy(guestMemory.pagePointer(page), memory + page * 4096, 4096)
    }
}

/// A snapshot that cannot be taken or put back, and why.
public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case needsKVM
    case memorySizeMismatch(snapshot: Int, guest: Int)
    case guestExited(status: UInt32)
    case debuggerAttached
    case vcpu(VCPUStateError)
    case capabilityMissing(String)

    public var description: String {
        switch self {
        case .needsKVM: return "snapshots need the kvm backend (this guest runs on tcg)"
        case .memorySizeMismatch(let snapshot, let guest):
            return "a snapshot of \(snapshot >> 20) MiB of guest memory (\(snapshot) bytes) cannot be restored into a guest of \(guest >> 20) MiB (\(guest) bytes)"
        case .guestExited(let status): return "the guest exited (status \(status)): there is nothing to snapshot that could go on"
        case .debuggerAttached: return "a debugger is attached: detach it before taking or restoring a snapshot"
        case .vcpu(let error): return "the vCPU's state: \(error)"
        case .capabilityMissing(let name): return "this KVM lacks \(name), which snapshots need"
        }
    }
}
