import CKVM
import Glibc
import GuestProtocol

/// One virtual CPU: its file descriptor and the kvm_run area it shares with
/// the kernel. Runs on whichever thread calls `run`, one call at a time.
public final class VCPU {
    public let vm: VirtualMachine
    public let id: Int
    let fd: Int32
    let runArea: UnsafeMutablePointer<kvm_run>
    private let runAreaSize: Int
    /// Stops this vCPU from any thread; see `stopHandle`.
    public let stopHandle: VCPUStopHandle

    /// vCPU `id` of `vm`, its CPUID KVM's supported one edited by `cpu`.
    init(vm: VirtualMachine, id: Int, cpu: CPUSelection) throws {
        let edits = try cpu.kvmEdits(kvmDescriptor: vm.kvm.fd)
        self.vm = vm
        self.id = id
        let fd = ckvm_ioctl_int(vm.fd, ckvm_create_vcpu, UInt(id))
        guard fd >= 0 else { throw KVMError.ioctlFailed(request: "KVM_CREATE_VCPU", errno: ckvm_errno()) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let size = vm.kvm.vcpuMapSize
        let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            let code = errno
            close(fd)
            throw KVMError.mmapFailed(bytes: size, errno: code)
        }
        self.fd = fd
        runAreaSize = size
        runArea = mapped.bindMemory(to: kvm_run.self, capacity: 1)
        guard let stop = ckvm_stop_create(runArea) else {
            munmap(mapped, size)
            close(fd)
            throw KVMError.mmapFailed(bytes: size, errno: ENOMEM)
        }
        stopHandle = VCPUStopHandle(stop)
        // The guest sees the CPU features this KVM can virtualize, no more,
        // less those `cpu` takes away.
        guard ckvm_set_edited_cpuid(vm.kvm.fd, fd, edits, UInt32(edits.count), UInt32(id)) == 0 else {
            let code = ckvm_errno()
            munmap(mapped, size)
            close(fd)
            throw KVMError.ioctlFailed(request: "KVM_SET_CPUID2", errno: code)
        }
    }

    deinit {
        ckvm_stop_detach(stopHandle.stop)
        munmap(UnsafeMutableRawPointer(runArea), runAreaSize)
        close(fd)
    }

    public func registers() throws -> kvm_regs {
        var regs = kvm_regs()
        guard ckvm_ioctl_pointer(fd, ckvm_get_regs, &regs) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_GET_REGS", errno: ckvm_errno())
        }
        return regs
    }

    public func setRegisters(_ regs: kvm_regs) throws {
        var regs = regs
        guard ckvm_ioctl_pointer(fd, ckvm_set_regs, &regs) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_SET_REGS", errno: ckvm_errno())
        }
    }

    public func specialRegisters() throws -> kvm_sregs {
        var sregs = kvm_sregs()
        guard ckvm_ioctl_pointer(fd, ckvm_get_sregs, &sregs) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_GET_SREGS", errno: ckvm_errno())
        }
        return sregs
    }

    public func setSpecialRegisters(_ sregs: kvm_sregs) throws {
        var sregs = sregs
        guard ckvm_ioctl_pointer(fd, ckvm_set_sregs, &sregs) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_SET_SREGS", errno: ckvm_errno())
        }
    }

    /// Halted with interrupts off (KVM_GET_MP_STATE with the in-kernel
    /// LAPIC, which keeps a `hlt` inside KVM_RUN): nothing the kernel does
    /// wakes it. Asked of a vCPU out of KVM_RUN only (the ioctl waits for it).
    func isHaltedForGood() -> Bool {
        var state = kvm_mp_state()
        guard ckvm_ioctl_pointer(fd, ckvm_get_mp_state, &state) == 0, state.mp_state == UInt32(KVM_MP_STATE_HALTED),
              let regs = try? registers() else { return false }
        return regs.rflags & (1 << 9) == 0
    }

    /// The registers a failure report carries.
    public func snapshot() -> CPUState? {
        guard let regs = try? registers(), let sregs = try? specialRegisters() else { return nil }
        return CPUState(regs: regs, sregs: sregs)
    }

    /// Enters the guest once and returns why it came back. Once a stop was
    /// requested it returns `.interrupted` without entering.
    public func run() throws -> VCPUExit {
        if stopHandle.isRequested { return .interrupted }
        ckvm_stop_enter(stopHandle.stop)
        defer { ckvm_stop_leave(stopHandle.stop) }
        if ckvm_ioctl(fd, ckvm_run) != 0 {
            let code = ckvm_errno()
            if code == EINTR || code == EAGAIN {
                // Whoever took the vCPU out left a flag that says why (the
                // watchdog's, a stop request, a pause): the caller reads it.
                // immediate_exit is cleared so that a kick already handled
                // does not turn every later KVM_RUN into an EINTR.
                runArea.pointee.immediate_exit = 0
                return .interrupted
            }
            throw KVMError.ioctlFailed(request: "KVM_RUN", errno: code)
        }
        return VCPUExit(runArea)
    }

    /// Runs `body` with a watchdog armed: if `deadline` passes first, the
    /// KVM_RUN in progress (or the next one) returns `.interrupted` and
    /// `watchdogFired` turns true. With no limit, no timer is armed.
    public func withWatchdog<R>(deadline: Deadline, _ body: () throws -> R) throws -> R {
        guard let nanoseconds = deadline.remainingNanoseconds else { return try body() }
        var timer: UnsafeMutableRawPointer?
        guard ckvm_watchdog_arm(runArea, nanoseconds, &timer) == 0 else {
            throw KVMError.ioctlFailed(request: "timer_create (watchdog)", errno: ckvm_errno())
        }
        defer {
            ckvm_watchdog_disarm(timer)
            runArea.pointee.immediate_exit = 0
        }
        return try body()
    }

    public var watchdogFired: Bool { ckvm_watchdog_fired() != 0 }

    /// Hardware breakpoints and watchpoints (`debugRegisters`: DR0-DR3, then
    /// DR7) and single-stepping, through KVM_SET_GUEST_DEBUG; off when
    /// `enable` is false.
    public func setGuestDebug(enable: Bool, singleStep: Bool, debugRegisters: [UInt64]) throws(DebuggerError) {
        precondition(debugRegisters.count == 5, "DR0-DR3 and DR7")
        guard ckvm_set_guest_debug(fd, enable ? 1 : 0, singleStep ? 1 : 0, debugRegisters) == 0 else {
            throw .guestDebug(ckvm_errno())
        }
    }
}

/// Stops a vCPU from any thread (a terminal's reader, a test's timer): the
/// KVM_RUN in progress returns within microseconds, and every later `run`
/// returns `.interrupted` without entering the guest. The request is sticky.
public final class VCPUStopHandle: @unchecked Sendable {
    // Thread-safe: the C side uses an atomic flag and a mutex.
    let stop: OpaquePointer

    init(_ stop: OpaquePointer) {
        self.stop = stop
    }

    deinit { ckvm_stop_destroy(stop) }

    /// A handle for a run that waits in a system call instead of KVM_RUN
    /// (the QEMU backend's poll): a stop or kick interrupts the wait.
    static func forWaitingThread() -> VCPUStopHandle? {
        ckvm_stop_create(nil).map(VCPUStopHandle.init)
    }

    /// Runs `body` (a blocking system call) on this thread so that a stop or
    /// kick from another thread interrupts it with EINTR.
    func interruptingWaits<R>(_ body: () throws -> R) rethrows -> R {
        ckvm_stop_enter(stop)
        defer { ckvm_stop_leave(stop) }
        return try body()
    }

    public func requestStop() { ckvm_stop_request(stop) }

    /// Takes the vCPU out of the guest once (KVM_RUN returns `.interrupted`),
    /// without the sticky stop: for a pause.
    public func kick() { ckvm_stop_kick(stop) }

    public var isRequested: Bool { ckvm_stop_requested(stop) != 0 }
}
