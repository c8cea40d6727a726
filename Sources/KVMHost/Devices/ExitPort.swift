import GuestProtocol

/// The exit port, where QEMU's isa-debug-exit sits: a write ends the run with
/// the value written as the guest's status.
public final class ExitPort: PortDevice {
    public let ports: ClosedRange<UInt16>
    /// The status written, if any; a restore puts back the snapshot's.
    public internal(set) var status: UInt32?

    public init(port: UInt16 = GuestPort.exit) {
        ports = port...port
    }

    public func read(port: UInt16, size: Int) throws -> UInt32 {
        throw UnclaimedPortError(port: port, direction: .input, size: size)
    }

    public func write(port: UInt16, size: Int, value: UInt32) throws {
        status = value
    }
}
