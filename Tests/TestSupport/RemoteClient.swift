import Foundation
import KVMHost

/// A gdb remote protocol client on a raw socket, for tests of the stub.
public final class RemoteClient {
    public let socket: Int32
    private var buffer: [UInt8] = []

    public init(port: UInt16) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let socket = self.socket
        let connected = withLoopbackAddress(port: port) { connect(socket, $0, $1) }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socket) }

    public func sendRaw(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    public func sendPacket(_ text: String) { sendRaw(RemotePacketReader.frame(Array(text.utf8))) }

    /// The next item from the stub: "+", "-", or a packet's payload.
    public func next() -> String? {
        while true {
            var reader = RemotePacketReader()
            var consumed = 0
            for byte in buffer {
                consumed += 1
                switch reader.take(byte) {
                case .acknowledged?: buffer.removeFirst(consumed); return "+"
                case .retransmitRequested?: buffer.removeFirst(consumed); return "-"
                case .packet(let payload)?: buffer.removeFirst(consumed); return String(decoding: payload, as: UTF8.self)
                default: continue
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(socket, &chunk, chunk.count, 0)
            guard count > 0 else { return nil }
            buffer += chunk.prefix(count)
        }
    }

    /// Sends a packet; returns the reply after the stub's "+".
    public func ask(_ text: String) -> String? {
        sendPacket(text)
        guard next() == "+" else { return nil }
        return next()
    }
}
