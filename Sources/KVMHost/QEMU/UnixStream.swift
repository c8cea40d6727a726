import Glibc

/// A connected Unix stream socket the host owns: one of QEMU's chardevs.
final class UnixStream {
    let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Up to `maximum` bytes; empty at end of stream. Never blocks when poll
    /// said the socket is readable.
    func read(maximum: Int = 4096) throws(QEMUMachineError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maximum)
        while true {
            let count = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, maximum, 0) }
            if count >= 0 { return Array(bytes[..<count]) }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return [] }
            throw .socket("read", errno: errno)
        }
    }

    /// Writes every byte; a peer that went away is an error, not a SIGPIPE.
    func write(_ bytes: [UInt8]) throws(QEMUMachineError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .socket("write", errno: errno)
            }
            offset += count
        }
    }
}

/// A listening Unix socket at a path, for QEMU to connect a chardev to.
final class UnixListener {
    let path: String
    private let descriptor: Int32

    init(path: String) throws(QEMUMachineError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw .socket("a socket path of \(path.utf8.count) bytes", errno: ENAMETOOLONG) }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .socket("socket", errno: errno) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(descriptor, 1) == 0 else {
            let code = errno
            close(descriptor)
            throw .socket("bind \(path)", errno: code)
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The connection QEMU makes, or nil if none came within `milliseconds`.
    func accept(withinMilliseconds milliseconds: Int32) throws(QEMUMachineError) -> UnixStream? {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        guard ready > 0 else { return nil }
        let connection = Glibc.accept(descriptor, nil, nil)
        guard connection >= 0 else { throw .socket("accept", errno: errno) }
        _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
        return UnixStream(descriptor: connection)
    }
}
