import Foundation

/// kvmhost's standard output or standard error, written with write(2).
/// Foundation's FileHandle.write traps on any error; here a full disk, a
/// closed descriptor or a reader gone (EPIPE: SIGPIPE is ignored) is an
/// error value that the caller decides about, and the guest's status
/// survives a standard error nobody can write to.
final class OutputStream: @unchecked Sendable {
    // Thread-safe: the terminal's reader thread writes help text to stderr.
    let descriptor: Int32
    let name: String
    private let lock = NSLock()
    private var lastByte: UInt8 = UInt8(ascii: "\n")
    /// The first write that failed, if any.
    fileprivate(set) var failure: OutputError?

    init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }

    /// A standard stream kvmhost was started without (`>&-`): its number is
    /// taken by /dev/null at once, so that no file kvmhost opens later
    /// (/dev/kvm, the kernel image) lands on it and receives console output,
    /// and the stream itself reports EBADF on every write.
    static func holdClosedStandardStreams() {
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFD) < 0 && errno == EBADF {
            let nullDevice = open("/dev/null", descriptor == STDIN_FILENO ? O_RDONLY : O_WRONLY)
            if nullDevice >= 0 && nullDevice != descriptor {
                dup2(nullDevice, descriptor)
                close(nullDevice)
            }
            if descriptor == STDOUT_FILENO { standardOutput.failure = OutputError(stream: standardOutput.name, errno: EBADF) }
            if descriptor == STDERR_FILENO { standardError.failure = OutputError(stream: standardError.name, errno: EBADF) }
        }
    }

    static let standardOutput = OutputStream(descriptor: STDOUT_FILENO, name: "standard output")
    static let standardError = OutputStream(descriptor: STDERR_FILENO, name: "standard error")

    /// True when the last byte written ended a line (or nothing was written).
    var isAtLineStart: Bool { lock.withLock { lastByte == UInt8(ascii: "\n") } }

    func write(_ bytes: [UInt8]) throws(OutputError) {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let error = OutputError(stream: name, errno: errno)
                failure = error
                throw error
            }
            offset += written
        }
        if let last = bytes.last { lastByte = last }
    }

    func write(_ text: String) throws(OutputError) { try write(Array(text.utf8)) }

    /// Writes what it can and drops the rest: for messages with nowhere else to go.
    func writeIgnoringErrors(_ text: String) { try? write(text) }

    /// True when both streams reach the same file (one terminal, or 2>&1).
    static var shareOneFile: Bool {
        var output = stat(), error = stat()
        guard fstat(STDOUT_FILENO, &output) == 0, fstat(STDERR_FILENO, &error) == 0 else { return false }
        return output.st_dev == error.st_dev && output.st_ino == error.st_ino
    }
}

struct OutputError: Error, CustomStringConvertible {
    let stream: String
    let errno: Int32
    var description: String { "cannot write to \(stream): \(String(cString: strerror(errno))) (errno \(errno))" }
}
