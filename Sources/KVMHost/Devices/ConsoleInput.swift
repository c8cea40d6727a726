/// Where the guest's console input comes from: a terminal, a pipe, a script.
/// The run loop asks for input when the guest halts waiting for COM1 data,
/// so the host blocks on its input instead of spinning with the guest.
public protocol ConsoleInput: AnyObject, Sendable {
    /// Blocks until input is available, the input ends, `deadline` passes,
    /// or `wake` is called.
    func waitForInput(until deadline: Deadline) -> ConsoleInputEvent
    /// From any thread: a `waitForInput` in progress (or the next) returns
    /// `.woken` soon, so that the guest can stop for a debugger.
    func wake()
}

public enum ConsoleInputEvent: Equatable, Sendable {
    case bytes([UInt8])
    /// No more input will come (end of a pipe or file).
    case endOfInput
    case timedOut
    /// The user asked to stop the guest now (the console's escape sequence).
    case quit
    /// `wake` was called: the host has something to do with the guest.
    case woken
}

/// End of transmission: what the guest's console reads when the host's input
/// has ended, as a terminal sends it for Ctrl-D.
public let endOfInputByte: UInt8 = 0x04

/// Input given up front, a line at a time: for tests and scripts. Never
/// blocks, so `wake` has nothing to do.
public final class ScriptedConsoleInput: ConsoleInput, @unchecked Sendable {
    // Used by the thread that runs the guest only.
    private var lines: [String]

    public init(lines: [String]) {
        self.lines = lines
    }

    public func waitForInput(until deadline: Deadline) -> ConsoleInputEvent {
        guard !lines.isEmpty else { return .endOfInput }
        return .bytes(Array((lines.removeFirst() + "\n").utf8))
    }

    public func wake() {}
}
