// The kernel waits for a call: the host writes a command record into the
// buffer named here (guest-physical), after checking it lies in guest memory.

public struct AwaitCommandRecord: Wire, Equatable, Sendable {
    public var bufferPhysical: UInt64
    public var capacity: UInt64

    public init(bufferPhysical: UInt64, capacity: UInt64) {
        self.bufferPhysical = bufferPhysical
        self.capacity = capacity
    }
}
