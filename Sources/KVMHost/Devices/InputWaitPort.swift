import GuestProtocol

/// The port the kernel reads when it waits for console input on KVM: the
/// run loop then waits for input and resumes the vCPU, whose read completes
/// then. (A `hlt` served this until several CPUs: KVM's in-kernel LAPIC
/// keeps a halted vCPU inside KVM_RUN.)
final class InputWaitPort: PortDevice {
    let ports: ClosedRange<UInt16> = GuestPort.inputWait...GuestPort.inputWait
    /// Set by a read, taken by the run loop.
    var waiting = false

    func read(port: UInt16, size: Int) throws -> UInt32 {
        waiting = true
        return 0
    }

    func write(port: UInt16, size: Int, value: UInt32) throws {
        throw UnclaimedPortError(port: port, direction: .output, size: size)
    }
}
