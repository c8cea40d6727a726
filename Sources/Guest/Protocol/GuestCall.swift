// What the host can ask of the guest kernel: one type per call, holding its
// arguments and naming its reply. The host sends `guest.call(X(...))` and gets
// an `X.Reply`; the kernel decodes X, runs `X.perform()` and encodes its
// result. Adding a call means: its type (in Calls/), with a `// wire: call N`
// directive naming its code (the next number), and its `perform` in the
// kernel. WireCodeGenerator writes the rest: the type's coding, its
// `CallCode` case and its line in `CallCode.visit`; the kernel does not
// build while a call lacks `perform`.

public protocol GuestCall: Wire {
    associatedtype Reply: Wire
    static var code: CallCode { get }
#if GUEST_KERNEL
    /// The kernel's side of the call: typed arguments in, a typed result out.
    func perform() throws(CallError) -> Reply
#endif
}

/// Something to do with a call's type, whichever call a code names.
public protocol CallVisitor {
    associatedtype Result
    mutating func visit<Call: GuestCall>(_ call: Call.Type) -> Result
}

/// The reply record's status word: how the call went.
public enum CallStatus: UInt64, Sendable {
    /// The reply's words are the call's `Reply`.
    case ok = 0
    /// The kernel knows no call by this code. Words: the code.
    case unknownCall = 1
    /// The arguments were not the call's. Words: the `WireError`.
    case malformedArguments = 2
    /// The call ran and failed. Words: the `CallError`.
    case failed = 3
    /// The reply did not fit in one record.
    case replyTooLong = 4
}
