import Foundation
import KVMHost

/// Keystrokes from a terminal in raw mode, with QEMU's escapes: Ctrl-A x
/// quits, Ctrl-A g stops the guest for gdb, Ctrl-A s takes a snapshot and
/// Ctrl-A r rewinds to it, Ctrl-A h lists the escapes, Ctrl-A Ctrl-A sends
/// one Ctrl-A.
///
/// A thread of its own reads the terminal all the time, not only when the
/// guest waits for input: Ctrl-A x stops a guest that is busy or hung in a
/// loop, through the vCPU's stop handle, within milliseconds. Keystrokes
/// typed while the guest runs wait here until it asks for input.
final class TerminalInput: ConsoleInput, @unchecked Sendable {
    // Thread-safe: every field below is guarded by `condition`.
    private static let escape: UInt8 = 0x01
    private static let redraw: UInt8 = 0x0C  // Ctrl-L
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var ended = false
    private var quitRequested = false
    private var woken = false
    private let stop: VCPUStopHandle
    private let debug: @Sendable () -> Void
    /// Where Ctrl-A s and Ctrl-A r go: nil on a backend without snapshots,
    /// where they say so and the session goes on.
    private let snapshots: SnapshotRequests?

    init(stopping stop: VCPUStopHandle, snapshots: SnapshotRequests?, debug: @escaping @Sendable () -> Void) {
        self.stop = stop
        self.snapshots = snapshots
        self.debug = debug
        let reader = Thread { [self] in readTerminal() }
        reader.name = "kvmhost terminal"
        reader.start()
    }

    func waitForInput(until deadline: Deadline) -> ConsoleInputEvent {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if quitRequested { return .quit }
            if woken {
                woken = false
                return .woken
            }
            if !pending.isEmpty {
                defer { pending.removeAll() }
                return .bytes(pending)
            }
            if ended { return .endOfInput }
            if let remaining = deadline.remaining {
                guard remaining > .zero else { return .timedOut }
                let (seconds, attoseconds) = remaining.components
                _ = condition.wait(until: Date(timeIntervalSinceNow: min(Double(seconds) + Double(attoseconds) / 1e18, 3600)))
            } else {
                condition.wait()
            }
        }
    }

    func wake() { update { $0.woken = true } }

    /// The reader thread: until the terminal ends, or Ctrl-A x.
    private func readTerminal() {
        var afterEscape = false
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else {
                update { $0.ended = true }
                return
            }
            var forward: [UInt8] = []
            for byte in buffer.prefix(count) {
                if afterEscape {
                    afterEscape = false
                    switch byte {
                    case UInt8(ascii: "x"), UInt8(ascii: "X"):
                        update { $0.quitRequested = true }
                        stop.requestStop()
                        return
                    case UInt8(ascii: "g"), UInt8(ascii: "G"):
                        deliver(&forward)
                        debug()
                        forward.append(Self.redraw)
                    case UInt8(ascii: "s"), UInt8(ascii: "S"), UInt8(ascii: "r"), UInt8(ascii: "R"):
                        guard let snapshots else {
                            // A backend without snapshots says so; the session goes on.
                            OutputStream.standardError.writeIgnoringErrors("\r\nkvmhost: snapshots need --accel kvm: QEMU holds the vCPU's state under tcg\r\n")
                            forward.append(Self.redraw)
                            break
                        }
                        if byte == UInt8(ascii: "s") || byte == UInt8(ascii: "S") {
                            deliver(&forward)
                            snapshots.request(.take)
                            break
                        }
                        // Keys typed before the rewind belong to the timeline it
                        // discards, as does what the guest had not read yet.
                        forward.removeAll()
                        update { $0.pending.removeAll() }
                        snapshots.request(.rewind)
                    case UInt8(ascii: "h"), UInt8(ascii: "H"):
                        OutputStream.standardError.writeIgnoringErrors(
                            "\r\nC-a x  quit\r\nC-a g  stop the guest for gdb\r\nC-a s  take a snapshot of the guest\r\n"
                            + "C-a r  rewind the guest to that snapshot\r\nC-a h  this help\r\nC-a C-a  send C-a\r\n")
                        forward.append(Self.redraw)
                    default: forward.append(byte)
                    }
                } else if byte == Self.escape {
                    afterEscape = true
                } else {
                    forward.append(byte)
                }
            }
            deliver(&forward)
        }
    }

    /// After a message of kvmhost's on the terminal: Ctrl-L to the guest,
    /// whose line editor redraws its prompt and the line being edited.
    func redrawGuestLine() { update { $0.pending.append(Self.redraw) } }

    /// Hands keys to the guest in the order typed, before an escape acts.
    private func deliver(_ forward: inout [UInt8]) {
        guard !forward.isEmpty else { return }
        let keys = forward
        forward.removeAll()
        update { $0.pending += keys }
    }

    private func update(_ change: (TerminalInput) -> Void) {
        condition.lock()
        change(self)
        condition.broadcast()
        condition.unlock()
    }
}
