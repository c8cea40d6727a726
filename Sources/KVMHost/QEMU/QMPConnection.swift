import Foundation
import Glibc

/// QEMU's machine protocol (QMP) on a socket: one JSON object per line.
/// Commands wait for their answer for a bounded time; events that arrive on
/// the way are kept for `takeEvents`.
final class QMPConnection {
    let stream: UnixStream
    private var buffer: [UInt8] = []
    private var events: [[String: Any]] = []
    /// A line longer than this is not QMP: refused, not buffered without end.
    static let maximumLineLength = 4 << 20

    init(stream: UnixStream, timeoutMilliseconds: Int32) throws(QEMUMachineError) {
        self.stream = stream
        guard let greeting = try nextMessage(timeoutMilliseconds: timeoutMilliseconds), greeting["QMP"] != nil else {
            throw .qmp("QEMU sent no QMP greeting")
        }
        _ = try execute("qmp_capabilities", timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Runs `command` and returns its "return" value.
    func execute(_ command: String, arguments: [String: Any]? = nil, timeoutMilliseconds: Int32 = 5000) throws(QEMUMachineError) -> Any {
        var message: [String: Any] = ["execute": command]
        if let arguments { message["arguments"] = arguments }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: message) } catch { throw .qmp("\(command) could not be encoded") }
        try stream.write(Array(data) + [0x0A])
        while true {
            guard let answer = try nextMessage(timeoutMilliseconds: timeoutMilliseconds) else {
                throw .qmp("no answer to \(command) within \(timeoutMilliseconds) ms")
            }
            if let value = answer["return"] { return value }
            if let error = answer["error"] as? [String: Any] {
                throw .qmp("\(command): \(error["desc"] as? String ?? "\(error)")")
            }
            if answer["event"] != nil { events.append(answer) }
        }
    }

    /// Reads what the socket has (poll said it is readable) and returns the
    /// events among it; nil at end of stream.
    func readEvents() throws(QEMUMachineError) -> [[String: Any]]? {
        let bytes = try stream.read()
        if bytes.isEmpty { return nil }
        buffer.append(contentsOf: bytes)
        while let message = try takeLine() {
            if message["event"] != nil { events.append(message) }
        }
        return takeEvents()
    }

    func takeEvents() -> [[String: Any]] {
        defer { events.removeAll() }
        return events
    }

    private func nextMessage(timeoutMilliseconds: Int32) throws(QEMUMachineError) -> [String: Any]? {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMilliseconds))
        while true {
            if let message = try takeLine() { return message }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var entry = pollfd(fd: stream.descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return nil }
            let bytes = try stream.read()
            guard !bytes.isEmpty else { throw .qmp("QEMU closed its QMP socket") }
            buffer.append(contentsOf: bytes)
        }
    }

    private func takeLine() throws(QEMUMachineError) -> [String: Any]? {
        guard let end = buffer.firstIndex(of: 0x0A) else {
            if buffer.count > Self.maximumLineLength { throw .qmp("a QMP line longer than \(Self.maximumLineLength) bytes") }
            return nil
        }
        let line = Data(buffer[..<end])
        buffer.removeSubrange(...end)
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw .qmp("QEMU sent a QMP line that is not a JSON object")
        }
        return object
    }
}
