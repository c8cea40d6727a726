/// What runs the guest: this machine's KVM (`KVMMachine`) or QEMU TCG
/// (`QEMUMachine`). Each turns what its backend does into the same
/// `MachineStop`s, and `Verdict` alone decides what a stop means, so a rule
/// about statuses, deadlines or a backend that died holds on both.
/// A feature only one backend has (snapshots, the gdb stub, port traces)
/// lives on that backend's type, not here.
protocol Machine: AnyObject {
    var backend: Backend { get }
    /// Guest-physical memory, bounds-checked.
    var memory: GuestMemory { get }
    /// Takes the machine out of `run` from any thread.
    var stopHandle: VCPUStopHandle { get }
    /// Runs the guest until it does something the host must see, or
    /// `deadline` passes, or a stop is requested.
    func run(until deadline: Deadline) throws -> MachineStop
    /// Bytes for the guest's COM1, after it asked for input.
    func sendConsoleInput(_ bytes: [UInt8]) throws
    /// The vCPU's registers now, when they can be read: the CPU's the last
    /// stop came from.
    func cpuState() -> CPUState?
    /// The other CPUs' registers, each where it was when the run failed
    /// (taken out of the guest to be read); empty where the backend cannot say.
    func otherCPUStates() -> [OtherCPU]
    /// Whether the backend has gone away by itself (QEMU died): a wait for
    /// console input checks it, so that it ends at once, not at the deadline.
    var hasEnded: Bool { get }
    /// The deadline a run really has: none while a debugger may hold the guest.
    func effectiveDeadline(_ deadline: Deadline) -> Deadline
    /// The run ended in `failure`: a debugger may want to look first.
    func runFailed(_ failure: GuestFailure)
    /// The guest exited with `status`.
    func runExited(status: UInt32)
}
