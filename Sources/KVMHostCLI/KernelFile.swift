import Foundation
import KVMHost

/// A kernel image file, read into memory once, after its type and size are
/// checked: only a regular file is read (a FIFO, a device or a directory is
/// refused before any open that could block).
enum KernelFile {
    static func read(path: String, limit: Int) throws -> [UInt8] {
        let (descriptor, size): (Int32, Int)
        do { (descriptor, size) = try UserFiles.openRegularFile(path) } catch {
            throw KernelFileError(path: path, reason: error.reason)
        }
        defer { close(descriptor) }
        guard size <= limit else {
            throw KernelFileError(path: path, reason: "\(size) bytes is larger than guest memory (\(limit) bytes)")
        }
        var bytes: [UInt8] = []
        do {
            if size > 0 {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
                defer { buffer.deallocate() }
                try UserFiles.read(descriptor, path: path, at: 0, count: size, into: buffer)
                bytes = Array(UnsafeRawBufferPointer(start: buffer, count: size))
            }
        } catch {
            throw KernelFileError(path: path, reason: error.reason)
        }
        return bytes
    }
}

struct KernelFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot read the kernel image \(path): \(reason)" }
}
