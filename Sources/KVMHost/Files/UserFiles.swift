import Glibc

// Files the user names by path (a kernel, a snapshot, a profile): read only
// when they are regular files, opened without blocking (a FIFO with no
// writer would hang open()), and written either through a temporary file
// renamed over a regular file, or straight into a character device or FIFO
// as what it is: a device node is never replaced by a file.

/// A file the user named that kvmhost could not read or write, and why, in
/// kvmhost's words: the path and the system's reason (errno's text).
public struct FileAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Access: Equatable, Sendable { case read, write }
    public let path: String
    public let access: Access
    public let reason: String

    public init(path: String, access: Access, reason: String) {
        self.path = path
        self.access = access
        self.reason = reason
    }

    init(path: String, access: Access, errno code: Int32) {
        self.init(path: path, access: access, reason: UserFiles.text(ofErrno: code))
    }

    public var description: String { "cannot \(access == .read ? "read" : "write") \(path): \(reason)" }
}

public enum UserFiles {
    /// errno's text, as strerror gives it, with its number.
    static func text(ofErrno code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

    /// What a file of `mode` is, in words.
    static func kind(ofMode mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a file of type \(String(mode & S_IFMT, radix: 8))"
        }
    }

    /// Opens `path` for reading when it is a regular file, without ever
    /// blocking (O_NONBLOCK, then fstat): a FIFO, a device or a directory is
    /// refused by its kind. Returns the descriptor (blocking again) and the
    /// file's size; the caller closes it.
    public static func openRegularFile(_ path: String) throws(FileAccessError) -> (descriptor: Int32, size: Int) {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else {
            let code = errno
            throw FileAccessError(path: path, access: .read, reason: code == ENOENT ? "no such file" : text(ofErrno: code))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw FileAccessError(path: path, access: .read, errno: code)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw FileAccessError(path: path, access: .read, reason: "it is \(kind(ofMode: status.st_mode)), not a regular file")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return (descriptor, Int(status.st_size))
    }

    /// Reads `count` bytes at `offset` into `target`, whole: a file that
    /// ends sooner (it shrank since it was opened) is an error, never a
    /// short read taken for data.
    public static func read(_ descriptor: Int32, path: String, at offset: Int, count: Int,
                            into target: UnsafeMutableRawPointer) throws(FileAccessError) {
        var done = 0
        while done < count {
            let result = pread(descriptor, target + done, count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(path: path, access: .read, errno: errno)
            }
            guard result > 0 else {
                throw FileAccessError(path: path, access: .read, reason: "it ended at byte \(offset + done), "
                                      + "before the \(offset + count) it held when opened (it shrank while it was read)")
            }
            done += result
        }
    }

    /// Writes a file to `path`, `body` writing its bytes through `write`:
    ///
    /// - a regular file, or nothing yet: a temporary file beside it,
    ///   synced, renamed over it, so that `path` is the old file or the
    ///   whole new one (a symbolic link is followed: the file it names is
    ///   replaced, the link stays);
    /// - a character device or a FIFO: written as what it is (`/dev/null`
    ///   stays a device; a FIFO with no reader is refused, never waited on);
    /// - anything else (a directory, a block device, a socket) is refused.
    public static func write(to path: String, _ body: (_ write: (UnsafeRawPointer, Int) throws(FileAccessError) -> Void) throws -> Void) throws {
        var target = path
        var status = stat()
        if stat(path, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                if let resolved = realpath(path, nil) {
                    target = String(cString: resolved)
                    free(resolved)
                }
            case S_IFCHR, S_IFIFO:
                try writeInPlace(path, body)
                return
            default:
                throw FileAccessError(path: path, access: .write, reason: "it is \(kind(ofMode: status.st_mode)); "
                                      + "kvmhost writes a regular file, a character device or a FIFO")
            }
        } else if errno != ENOENT {
            throw FileAccessError(path: path, access: .write, errno: errno)
        } else {
            // A link to nothing yet: the file is made where it points, and the link stays.
            target = try danglingLinkTarget(path) ?? path
        }
        let temporary = target + ".partial-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw FileAccessError(path: path, access: .write, reason: "its directory does not exist (\(text(ofErrno: code)))")
            }
            throw FileAccessError(path: path, access: .write, errno: code)
        }
        var written = false
        defer {
            close(descriptor)
            if !written { unlink(temporary) }
        }
        try body { (start, count) throws(FileAccessError) in try writeAll(descriptor, start, count, path: path) }
        guard fsync(descriptor) == 0 else { throw FileAccessError(path: path, access: .write, errno: errno) }
        guard rename(temporary, target) == 0 else { throw FileAccessError(path: path, access: .write, errno: errno) }
        written = true
    }

    /// Where a chain of symbolic links from `path` ends when its last link
    /// names nothing yet; nil when `path` is no link. Relative targets are
    /// taken from their link's directory; a chain of more than 40 is refused
    /// as the system refuses it (ELOOP).
    private static func danglingLinkTarget(_ path: String) throws -> String? {
        var current = path
        var status = stat()
        for _ in 0..<40 {
            guard lstat(current, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else {
                return current == path ? nil : current
            }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count >= 0 else { throw FileAccessError(path: path, access: .write, errno: errno) }
            let link = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("/") {
                current = link
            } else if let slash = current.lastIndex(of: "/") {
                current = String(current[...slash]) + link
            } else {
                current = link
            }
        }
        throw FileAccessError(path: path, access: .write, errno: ELOOP)
    }

    private static func writeInPlace(_ path: String, _ body: (_ write: (UnsafeRawPointer, Int) throws(FileAccessError) -> Void) throws -> Void) throws {
        // O_NONBLOCK: a FIFO nobody reads is ENXIO at once, not a hang.
        let descriptor = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else {
            let code = errno
            throw FileAccessError(path: path, access: .write, reason: code == ENXIO ? "it is a FIFO that nothing reads" : text(ofErrno: code))
        }
        defer { close(descriptor) }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        try body { (start, count) throws(FileAccessError) in try writeAll(descriptor, start, count, path: path) }
    }

    private static func writeAll(_ descriptor: Int32, _ start: UnsafeRawPointer, _ count: Int, path: String) throws(FileAccessError) {
        var done = 0
        while done < count {
            let result = Glibc.write(descriptor, start + done, count - done)
            if result < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(path: path, access: .write, errno: errno)
            }
            done += result
        }
    }
}
