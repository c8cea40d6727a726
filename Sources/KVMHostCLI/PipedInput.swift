import Foundation
import KVMHost

/// Input from a pipe or a file, handed to the guest a line at a time, as a
/// person would type it; the end of the input ends the monitor.
final class PipedInput: ConsoleInput, @unchecked Sendable {
    // The buffer is the guest thread's; `woken` is guarded by `lock`.
    private var buffer: [UInt8] = []
    private var ended = false
    private let lock = NSLock()
    private var woken = false

    func wake() { lock.withLock { woken = true } }

    private func takeWake() -> Bool {
        lock.withLock {
            defer { woken = false }
            return woken
        }
    }

    func waitForInput(until deadline: Deadline) -> ConsoleInputEvent {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[...newline])
                buffer.removeSubrange(...newline)
                return .bytes(line)
            }
            if ended {
                guard !buffer.isEmpty else { return .endOfInput }
                defer { buffer.removeAll() }
                return .bytes(buffer + [UInt8(ascii: "\n")])
            }
            switch readAvailable(until: deadline) {
            case .bytes(let bytes): buffer += bytes
            case .end: ended = true
            case .timedOut: return .timedOut
            case .woken: return .woken
            }
        }
    }

    private enum Read {
        case bytes([UInt8])
        case end
        case timedOut
        case woken
    }

    /// Reads what stdin has, waiting until `deadline` or a `wake`, polling
    /// in short steps so that a wake is noticed within 0.1 s.
    private func readAvailable(until deadline: Deadline) -> Read {
        while true {
            if takeWake() { return .woken }
            var timeout: Int32 = 100
            if let remaining = deadline.remaining {
                guard remaining > .zero else { return .timedOut }
                let (seconds, attoseconds) = remaining.components
                timeout = Int32(max(1, min(seconds * 1000 + attoseconds / 1_000_000_000_000_000, 100)))
            }
            var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, timeout) > 0 else { continue }
            var bytes = [UInt8](repeating: 0, count: 4096)
            let count = read(STDIN_FILENO, &bytes, bytes.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            return count <= 0 ? .end : .bytes(Array(bytes.prefix(count)))
        }
    }
}
