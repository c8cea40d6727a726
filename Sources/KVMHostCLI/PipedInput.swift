import Foundation
import KVMHost

/// Input from a pipe or a file, handed to the guest a line at a time, as a
/// person would type it; the end of the input ends the monitor.
final class PipedInput: ConsoleInput {
    private var buffer: [UInt8] = []
    private var ended = false

    func waitForInput(until deadline: ContinuousClock.Instant) -> ConsoleInputEvent {
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
}
