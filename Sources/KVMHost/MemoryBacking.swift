import Glibc

/// What backs guest RAM on the host, as the Linux KVM selftests offer it:
/// ordinary anonymous pages, anonymous memory with transparent huge pages
/// asked for (madvise), or 2 MiB pages from the hugetlb pool. Each is
/// mapped lazily; a huge page is one host fault (and one EPT entry) for
/// 512 guest frames.
public enum MemoryBacking: String, CaseIterable, Sendable {
    case anonymous
    case transparentHugePages = "thp"
    case hugetlb

    static let hugePageSize = 2 << 20
    static let transparentHugePagesSetting = "/sys/kernel/mm/transparent_hugepage/enabled"

    /// Checks, before anything is mapped, that the host can back `ram` so.
    func check(ram: [Range<UInt64>]) throws(MemoryBackingError) {
        switch self {
        case .anonymous:
            return
        case .transparentHugePages:
            guard let setting = Self.readFile(Self.transparentHugePagesSetting) else {
                throw .transparentHugePagesMissing(setting: nil)
            }
            guard Self.selected(in: setting) != "never" else { throw .transparentHugePagesMissing(setting: "never") }
        case .hugetlb:
            if let range = ram.first(where: { $0.lowerBound % UInt64(Self.hugePageSize) != 0 || $0.upperBound % UInt64(Self.hugePageSize) != 0 }) {
                throw .notWholeHugePages(range)
            }
            let needed = ram.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) / Self.hugePageSize }
            let free = Self.freeHugePages()
            guard needed <= free else { throw .hugePagesMissing(needed: needed, free: free) }
        }
    }

    /// Backs the RAM range at `address` (already mapped read-write, private
    /// and anonymous) as this backing asks.
    func apply(to address: UnsafeMutableRawPointer, length: Int) throws(MemoryBackingError) {
        switch self {
        case .anonymous:
            return
        case .transparentHugePages:
            guard madvise(address, length, MADV_HUGEPAGE) == 0 else { throw .mappingFailed(self, errno: errno) }
        case .hugetlb:
            // Reserved at mmap (no MAP_NORESERVE): a pool that ran dry later
            // would be a SIGBUS on first touch, not an error here.
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB | Self.mapHugeTwoMiB
            guard mmap(address, length, PROT_READ | PROT_WRITE, flags, -1, 0) != MAP_FAILED else {
                throw .mappingFailed(self, errno: errno)
            }
        }
    }

    /// MAP_HUGE_2MB: log2 of the page size in the flags' top bits.
    private static let mapHugeTwoMiB: Int32 = 21 << 26

    /// The bracketed choice of a sysfs setting such as "always [madvise] never".
    public static func selected(in setting: String) -> String? {
        guard let open = setting.firstIndex(of: "["), let close = setting[open...].firstIndex(of: "]") else { return nil }
        return String(setting[setting.index(after: open)..<close])
    }

    /// HugePages_Free of /proc/meminfo: the default-size (2 MiB here) pool's free pages.
    public static func freeHugePages() -> Int {
        guard let meminfo = readFile("/proc/meminfo") else { return 0 }
        for line in meminfo.split(separator: "\n") where line.hasPrefix("HugePages_Free:") {
            return Int(line.dropFirst("HugePages_Free:".count).filter { $0 != " " }) ?? 0
        }
        return 0
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)  // a read's buffer, not a page
        while bytes.count < 1 << 20 {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A backing the host cannot give, and why.
public enum MemoryBackingError: Error, Equatable, CustomStringConvertible {
    /// Transparent huge pages are off (`never`) or absent from this kernel.
    case transparentHugePagesMissing(setting: String?)
    /// The hugetlb pool has fewer free 2 MiB pages than the RAM needs.
    case hugePagesMissing(needed: Int, free: Int)
    /// A RAM range does not start and end on a 2 MiB boundary.
    case notWholeHugePages(Range<UInt64>)
    case needsKVM(MemoryBacking)
    case mappingFailed(MemoryBacking, errno: Int32)

    public var description: String {
        switch self {
        case .transparentHugePagesMissing(let setting):
            return "transparent huge pages are " + (setting.map { "set to \($0) in \(MemoryBacking.transparentHugePagesSetting)" }
                                                   ?? "not in this kernel (no \(MemoryBacking.transparentHugePagesSetting))")
        case .hugePagesMissing(let needed, let free):
            return "the RAM needs \(needed) free 2 MiB huge pages and the hugetlb pool has \(free) "
                + "(reserve them: echo \(needed) > /proc/sys/vm/nr_hugepages)"
        case .notWholeHugePages(let range):
            return "RAM range \(hex(range.lowerBound))-\(hex(range.upperBound)) is not a whole number of 2 MiB huge pages"
        case .needsKVM(let backing):
            return "the \(backing.rawValue) backing needs the kvm backend: QEMU maps its own memory file"
        case .mappingFailed(let backing, let code):
            return "guest RAM could not be mapped with the \(backing.rawValue) backing: \(String(cString: strerror(code)))"
        }
    }
}
