import GuestProtocol

/// The guest's answer to a call, before it is decoded as the call's reply.
public struct GuestReply: Equatable, Sendable {
    public var callSequence: UInt32
    /// A `CallStatus` raw value, as the guest wrote it.
    public var status: UInt64
    /// The reply's own words (or the error's), after the status.
    public var words: [UInt64]

    public init(callSequence: UInt32, status: UInt64, words: [UInt64]) {
        self.callSequence = callSequence
        self.status = status
        self.words = words
    }

    /// The reply as `Call.Reply`: every word read, none left over; or the
    /// error the kernel sent instead, or why the words are not either.
    public func decode<Call: GuestCall>(_ call: Call.Type) throws(GuestCallError) -> Call.Reply {
        func decode<Value: Wire>(_ type: Value.Type) throws(GuestCallError) -> Value {
            switch words.withUnsafeBytes({ WireDecoder.whole(Value.self, from: $0) }) {
            case .success(let value): return value
            case .failure(let error): throw GuestCallError(call: Call.code, reason: .malformedReply(error))
            }
        }
        guard let status = CallStatus(rawValue: status) else {
            throw GuestCallError(call: Call.code, reason: .unknownStatus(status))
        }
        switch status {
        case .ok: return try decode(Call.Reply.self)
        case .failed: throw GuestCallError(call: Call.code, reason: .failed(try decode(CallError.self)))
        case .malformedArguments: throw GuestCallError(call: Call.code, reason: .malformedArguments(try decode(WireError.self)))
        case .unknownCall: throw GuestCallError(call: Call.code, reason: .unknownCall)
        case .replyTooLong: throw GuestCallError(call: Call.code, reason: .replyTooLong)
        }
    }
}
