import Glibc

/// A TCP listener on 127.0.0.1 for one debugger at a time, and the
/// connection it accepts. Only the loopback address: a guest's memory is
/// nothing to serve to the network.
final class RemoteListener: @unchecked Sendable {
    // Thread-safe: the descriptor is set once; accept and close are system calls.
    let descriptor: Int32
    let port: UInt16

    init(port: UInt16) throws(DebuggerError) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .socket("socket", errno) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withLoopbackAddress(port: port) { bind(descriptor, $0, $1) }
        guard bound == 0, listen(descriptor, 1) == 0 else {
            let code = errno
            close(descriptor)
            // The port is the caller's choice: taken or forbidden, it is named.
            throw .portUnavailable(port, code)
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        self.port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    /// True when a debugger is waiting to be accepted, within `milliseconds`.
    func hasPendingConnection(milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    func accept() -> RemoteConnection? {
        while true {
            let connection = Glibc.accept(descriptor, nil, nil)
            if connection >= 0 {
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                var yes: Int32 = 1
                setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
                return RemoteConnection(descriptor: connection)
            }
            if errno == EINTR { continue }
            return nil
        }
    }
}

/// Runs `body` with 127.0.0.1:`port` as a socket address and its length:
/// for binding the stub and for clients that connect to it.
public func withLoopbackAddress<R>(port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// One debugger's connection: blocking reads and writes, never SIGPIPE.
final class RemoteConnection: @unchecked Sendable {
    // Thread-safe for its use: one thread reads and writes; another only polls.
    let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Bytes the client sent; nil once it has gone.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? Array(buffer.prefix(count)) : nil
        }
    }

    /// What the client has sent already, without waiting: empty when
    /// nothing, nil once it has gone.
    func receiveAvailable() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return [] }
        return count > 0 ? Array(buffer.prefix(count)) : nil
    }

    /// False once the client has gone.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// True when the client sent something (or went away), within `milliseconds`.
    func hasInput(milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) > 0
    }
}

/// Why the debugger could not be served.
public enum DebuggerError: Error, Equatable, CustomStringConvertible {
    case socket(String, Int32)
    /// The port asked for cannot be listened on (another program has it, or it is privileged).
    case portUnavailable(UInt16, Int32)
    case guestDebug(Int32)
    /// The stub drives a KVM vCPU; under tcg, QEMU's own `-gdb` is the way in.
    case needsKVM

    public var description: String {
        switch self {
        case .socket(let what, let code): return "gdb stub: \(what) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .portUnavailable(let port, let code):
            return "gdb stub: port \(port) on 127.0.0.1 cannot be listened on: \(String(cString: strerror(code))) (errno \(code))"
        case .guestDebug(let code): return "gdb stub: KVM_SET_GUEST_DEBUG failed: \(String(cString: strerror(code))) (errno \(code))"
        case .needsKVM: return "gdb stub: it debugs a KVM vCPU; this guest runs on the tcg backend"
        }
    }
}
