import Foundation

/// A directory of its own under the system's temporary directory, removed
/// with everything in it when this goes away.
public final class TemporaryDirectory {
    public let path: String

    public init(prefix: String) throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The type bits of what is at `path` (S_IFREG, S_IFCHR, ...), without
    /// following a link; 0 when nothing is there.
    public static func fileType(_ path: String) -> mode_t {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : 0
    }
}
