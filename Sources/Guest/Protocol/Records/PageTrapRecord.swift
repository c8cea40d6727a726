#if canImport(MemoryManager)
import MemoryManager
#endif

// One decision of the page trap for a process: reallocated (demand paging),
// or the process faulted for a reason.

public struct PageTrapRecord: Wire, Equatable, Sendable {
    public var address: UInt64
    public var errorCode: UInt64
    public var rip: UInt64
    /// Nil: reallocated (demand paging); otherwise why the process was faulted.
    public var faultReason: FaultReason?

    public init(address: UInt64, errorCode: UInt64, rip: UInt64, faultReason: FaultReason?) {
        self.address = address
        self.errorCode = errorCode
        self.rip = rip
        self.faultReason = faultReason
    }

    public var reallocated: Bool { faultReason == nil }
}
