import GuestProtocol

/// A call the guest kernel did not complete: which call, and why.
public struct GuestCallError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The kernel ran the call, and it failed: the kernel's typed error.
        case failed(CallError)
        /// The kernel knows no call by this code (a guest built from other sources).
        case unknownCall
        /// The kernel read the arguments as something other than the call.
        case malformedArguments(WireError)
        /// The reply did not fit in one record.
        case replyTooLong
        /// The arguments do not fit in one record.
        case argumentsTooLong
        /// The reply's words are not the call's reply.
        case malformedReply(WireError)
        /// The reply's status word is none the host knows.
        case unknownStatus(UInt64)
        /// `Shutdown` with a status the kernel ends with when it fails: the
        /// host would read it as that failure, so it is never sent.
        case kernelStatus(KernelExit)
    }

    public var call: CallCode
    public var reason: Reason

    public init(call: CallCode, reason: Reason) {
        self.call = call
        self.reason = reason
    }

    /// The kernel's error, when the call ran and failed.
    public var callError: CallError? {
        if case .failed(let error) = reason { return error }
        return nil
    }

    public var description: String {
        switch reason {
        case .failed(let error): return "the guest refused \(call): \(error)"
        case .unknownCall: return "the guest kernel does not know the call \(call)"
        case .malformedArguments(let error): return "the guest could not read the arguments of \(call): \(error)"
        case .replyTooLong: return "the guest's reply to \(call) did not fit in one record"
        case .argumentsTooLong: return "the arguments of \(call) do not fit in one record of \(recordMaximumSize) bytes"
        case .malformedReply(let error): return "the guest's reply to \(call) is not its reply type: \(error)"
        case .unknownStatus(let status): return "the guest answered \(call) with unknown status \(status)"
        case .kernelStatus(let exit):
            return "\(call) with status \(exit.rawValue) is refused: it is the kernel's own status for \"\(exit.meaning)\" "
                + "(KernelExit), and the host would read it as that failure"
        }
    }
}
