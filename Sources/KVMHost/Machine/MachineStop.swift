/// Why a machine stopped running the guest: the same events from KVM and
/// from QEMU. `Verdict` decides what each means.
enum MachineStop: Equatable {
    /// The guest rang the report channel with the record at this address
    /// (the report port's `out` on KVM, a record frame on QEMU's serial link).
    case record(address: UInt32)
    /// The guest wrote this whole status to the exit port (on QEMU, sent in
    /// an exit frame before isa-debug-exit).
    case exited(status: UInt32)
    /// The guest waits for console input (a `hlt` on KVM, a frame on QEMU).
    case wantsInput
    /// Taken out of the guest by a kick with nothing else to say: the caller
    /// has something to do between two runs (a snapshot request).
    case wantsAttention
    case tripleFault
    /// The vCPU halted with interrupts off (QEMU's `info registers` says
    /// so): nothing can wake it.
    case haltedForGood
    case deadlinePassed
    case stopRequested
    /// The backend went away by itself: QEMU ended, with no exit frame before.
    case backendEnded(ChildTermination, message: String)
    /// QEMU's machine shut down for a reason other than a triple fault.
    case backendShutdown(reason: String)
    case unclaimedPort(port: UInt16, direction: PortDirection, size: Int)
    case mmio(MMIOAccess)
    case channel(ChannelError)
    case failEntry(hardwareReason: UInt64)
    case internalError(suberror: UInt32)
    case systemEvent(type: UInt64)
    case unknownExit(reason: UInt32)
}
