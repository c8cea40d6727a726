import Glibc

/// What this process holds of the host, read from /proc/self: open file
/// descriptors, memory mappings and resident memory. The stress runs and the
/// resource tests compare it before and after creating many VMs.
public struct ProcessResources: Equatable, CustomStringConvertible {
    public var openDescriptors: Int
    public var mappings: Int
    public var residentBytes: Int

    public static func current() -> ProcessResources {
        ProcessResources(openDescriptors: countDescriptors(), mappings: countLines("/proc/self/maps"),
                         residentBytes: residentPages() * Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    public var description: String {
        "\(openDescriptors) descriptors, \(mappings) mappings, \(residentBytes >> 10) KiB resident"
    }

    private static func countDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { count += 1 }
        }
        return count - 1  // the directory stream's own descriptor
    }

    private static func countLines(_ path: String) -> Int {
        readFile(path).reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    /// The second field of /proc/self/statm.
    private static func residentPages() -> Int {
        let fields = String(decoding: readFile("/proc/self/statm"), as: UTF8.self).split(separator: " ")
        return fields.count > 1 ? Int(fields[1]) ?? -1 : -1
    }

    private static func readFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}
