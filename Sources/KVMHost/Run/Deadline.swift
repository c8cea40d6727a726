/// The moment a whole run must end by: taken once when a call starts, and
/// shared by every event, record and wait inside it, so that a guest that
/// keeps talking cannot restart the clock.
public struct Deadline: Sendable, CustomStringConvertible {
    /// When the run must end; nil for no limit.
    public let instant: ContinuousClock.Instant?
    /// The limit as it was asked for, for reports.
    public let timeout: Duration

    /// Timeouts of this many seconds or more mean no limit: they do not fit
    /// the watchdog's 64-bit nanosecond timer (about 292 years), and no run
    /// can outlast them.
    public static let unlimitedSeconds: Int64 = Int64.max / 1_000_000_000

    public init(after timeout: Duration, from start: ContinuousClock.Instant = .now) {
        self.timeout = timeout
        if timeout.components.seconds >= Self.unlimitedSeconds {
            instant = nil
        } else {
            instant = start + max(timeout, .zero)
        }
    }

    public static let never = Deadline(after: .seconds(unlimitedSeconds))

    /// Time left, never negative; nil for no limit.
    public var remaining: Duration? {
        guard let instant else { return nil }
        return max(instant - .now, .zero)
    }

    public var hasPassed: Bool {
        guard let instant else { return false }
        return ContinuousClock.now >= instant
    }

    /// Whole nanoseconds left, saturating: for timers that take an integer.
    public var remainingNanoseconds: Int64? {
        guard let remaining else { return nil }
        let (seconds, attoseconds) = remaining.components
        guard seconds < Self.unlimitedSeconds else { return Int64.max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    public var description: String { instant == nil ? "no limit" : "\(timeout)" }
}
