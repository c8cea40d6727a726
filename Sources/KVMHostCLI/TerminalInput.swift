import Foundation
import KVMHost

/// Keystrokes from a terminal in raw mode, with QEMU's escapes: Ctrl-A x
/// quits, Ctrl-A h lists the escapes, Ctrl-A Ctrl-A sends one Ctrl-A.
final class TerminalInput: ConsoleInput {
    private static let escape: UInt8 = 0x01
    private var afterEscape = false

    func waitForInput(until deadline: ContinuousClock.Instant) -> ConsoleInputEvent {
        while true {
            guard let bytes = readAvailable(until: deadline) else { return .timedOut }
            if bytes.isEmpty { return .endOfInput }
            var forward: [UInt8] = []
            for byte in bytes {
                if afterEscape {
                    afterEscape = false
                    switch byte {
                    case UInt8(ascii: "x"), UInt8(ascii: "X"): return .quit
                    case UInt8(ascii: "h"), UInt8(ascii: "H"):
                        FileHandle.standardError.write(Data("\r\nC-a x  quit\r\nC-a h  this help\r\nC-a C-a  send C-a\r\n".utf8))
                    case Self.escape: forward.append(byte)
                    default: forward.append(byte)
                    }
                } else if byte == Self.escape {
                    afterEscape = true
                } else {
                    forward.append(byte)
                }
            }
            if !forward.isEmpty { return .bytes(forward) }
        }
    }
}

/// Reads what stdin has, waiting until `deadline`: nil at the deadline,
/// an empty array at end of input.
func readAvailable(until deadline: ContinuousClock.Instant) -> [UInt8]? {
    while true {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        let milliseconds = min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000, 1_000_000)
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(milliseconds, 1)))
        if ready < 0 && errno == EINTR { continue }
        if ready <= 0 { continue }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(STDIN_FILENO, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        return count <= 0 ? [] : Array(buffer.prefix(count))
    }
}
