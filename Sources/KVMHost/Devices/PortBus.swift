/// A device on the guest's I/O port space.
public protocol PortDevice: AnyObject {
    /// The ports the device answers.
    var ports: ClosedRange<UInt16> { get }
    func read(port: UInt16, size: Int) throws -> UInt32
    func write(port: UInt16, size: Int, value: UInt32) throws
}

/// A port access no device claims: the guest touched hardware this machine
/// does not have. Never ignored, never answered with a made-up value.
public struct UnclaimedPortError: Error, Equatable {
    public let port: UInt16
    public let direction: PortDirection
    public let size: Int
}

/// Routes port accesses to devices.
public final class PortBus {
    private var devices: [PortDevice] = []

    public init() {}

    public func attach(_ device: PortDevice) {
        precondition(!devices.contains { $0.ports.overlaps(device.ports) }, "two devices claim the same port")
        devices.append(device)
    }

    /// Handles one port exit, `rep` string accesses included.
    public func handle(_ access: PortAccess) throws {
        guard let device = devices.first(where: { $0.ports.contains(access.port) }) else {
            throw UnclaimedPortError(port: access.port, direction: access.direction, size: access.size)
        }
        for index in 0..<access.count {
            switch access.direction {
            case .output: try device.write(port: access.port, size: access.size, value: access.value(index))
            case .input: access.setValue(try device.read(port: access.port, size: access.size), index)
            }
        }
    }
}
