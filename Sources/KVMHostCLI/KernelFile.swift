import Foundation

/// A kernel image file, read into memory once, after its size is checked.
enum KernelFile {
    static func read(path: String, limit: Int) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw KernelFileError(path: path, reason: errno == ENOENT ? "no such file" : String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw KernelFileError(path: path, reason: String(cString: strerror(errno))) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw KernelFileError(path: path, reason: "not a regular file") }
        let size = Int(status.st_size)
        guard size <= limit else {
            throw KernelFileError(path: path, reason: "\(size) bytes is larger than guest memory (\(limit) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + offset, size - offset) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw KernelFileError(path: path, reason: count == 0 ? "the file shrank while it was read" : String(cString: strerror(errno))) }
            offset += count
        }
        return bytes
    }
}

struct KernelFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot read the kernel image \(path): \(reason)" }
}
