import Foundation
import KVMHost

/// Input from a pipe or a file, handed to the guest a line at a time, as a
/// person would type it; the end of the input ends the monitor.
final class PipedInput: ConsoleInput {
    private var buffer: [UInt8] = []
    private var ended = false

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
            guard let bytes = readAvailable(until: deadline) else { return .timedOut }
            if bytes.isEmpty { ended = true } else { buffer += bytes }
        }
    }

    /// Reads what stdin has, waiting until `deadline`: nil at the deadline,
    /// an empty array at end of input.
    private func readAvailable(until deadline: Deadline) -> [UInt8]? {
        while true {
            var timeout: Int32 = 1000
            if let remaining = deadline.remaining {
                guard remaining > .zero else { return nil }
                let (seconds, attoseconds) = remaining.components
                timeout = Int32(max(1, min(seconds * 1000 + attoseconds / 1_000_000_000_000_000, 1000)))
            }
            var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready <= 0 { continue }
            var bytes = [UInt8](repeating: 0, count: 4096)
            let count = read(STDIN_FILENO, &bytes, bytes.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            return count <= 0 ? [] : Array(bytes.prefix(count))
        }
    }
}
