// What a reply record says before the reply's own words: which call it
// answers, how it went, and where the kernel now waits for its next command.
// A reply is the await-command record of the next call as well: one exit a
// call instead of two (measured: Echo of no words 319 -> see kvmbench calls).

public struct ReplyHeader: Wire, Equatable, Sendable {
    /// The command record's sequence number.
    public var callSequence: UInt32
    /// A `CallStatus` raw value: kept raw here so that the host names a
    /// status it does not know for the call it answers.
    public var status: UInt64
    /// The buffer the kernel reads its next command from once the host
    /// resumes it; nil when it takes no more (it never says so today, but a
    /// host must not write a command it was not offered).
    public var awaiting: AwaitCommandRecord?

    public init(callSequence: UInt32, status: UInt64, awaiting: AwaitCommandRecord?) {
        self.callSequence = callSequence
        self.status = status
        self.awaiting = awaiting
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        callSequence = try decoder.decode()
        status = try decoder.word()
        awaiting = try decoder.decode()
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(callSequence))
        encoder.word(status)
        encoder.encode(awaiting)
    }
}
