// What a reply record says before the reply's own words: which call it
// answers and how it went.

public struct ReplyHeader: Wire, Equatable, Sendable {
    /// The command record's sequence number.
    public var callSequence: UInt32
    /// A `CallStatus` raw value: kept raw here so that the host names a
    /// status it does not know for the call it answers.
    public var status: UInt64

    public init(callSequence: UInt32, status: UInt64) {
        self.callSequence = callSequence
        self.status = status
    }
}
