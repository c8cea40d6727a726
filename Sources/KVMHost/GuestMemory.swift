import MemoryManager
import Glibc

/// An access outside guest memory. The host checks every guest-supplied
/// address against the memory's bounds before it touches it.
public struct GuestMemoryError: Error, Equatable, CustomStringConvertible {
    public let address: UInt64
    public let length: UInt64
    public let memorySize: UInt64

    public var description: String {
        "guest-physical range \(hex(address)) + \(length) bytes lies outside guest memory (\(memorySize) bytes)"
    }
}

/// The guest's physical memory: one mapping, guest-physical address 0 at its
/// start, RAM in one range or two around the 32-bit hole (`GuestRAM`);
/// anonymous for KVM, or a file QEMU maps shared (`init(sharedFile:ram:)`).
/// Starts zeroed, as the guest expects. Owns the mapping.
///
/// An inaccessible guard page lies on each side, so that a host read or write
/// that escaped the bounds checks below would fault at once instead of
/// quietly touching other host memory.
public final class GuestMemory {
    /// Bytes of guest-physical address space the memory spans: the end of
    /// its highest RAM.
    public let size: Int
    /// The RAM, lowest first: one range, or two around the 32-bit hole.
    public let ram: [Range<UInt64>]
    public var ramBytes: UInt64 { ram.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) } }
    let base: UnsafeMutableRawPointer
    private let mapping: UnsafeMutableRawPointer
    private let mappingSize: Int
    private static let guardSize = pageBytes
    /// Pages the host wrote since tracking began (`trackHostWrites`): KVM's
    /// dirty log sees only the guest's writes, and a restore must undo both.
    private var hostWrites: PageBitmap?
    /// What a page of RAM the process never touched holds.
    private enum UntouchedPages {
        /// Zeros: private anonymous memory in ordinary or transparent huge pages.
        case zero
        /// The bytes of this file (a snapshot's memory file, mapped private;
        /// a descriptor of its own): zeros in its holes.
        case file(Int32)
        /// Anything: hugetlb, or a file QEMU shares.
        case unknown
    }
    private var untouchedPages: UntouchedPages

    /// One range of RAM, `size` bytes from guest-physical 0.
    public convenience init(size: Int) throws {
        try self.init(ram: [0..<UInt64(size)])
    }

    /// RAM at `ram` (sorted, disjoint, page-aligned ranges): one mapping
    /// from guest-physical 0 to the end of the last range, with everything
    /// between the ranges inaccessible like the guard pages. The mapping is
    /// reserved, not committed: a page uses host memory once it is touched.
    public init(ram: [Range<UInt64>], backing: MemoryBacking = .anonymous) throws {
        try backing.check(ram: ram)
        precondition(!ram.isEmpty && zip(ram, ram.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound }, "sorted, disjoint RAM")
        let size = Int(ram.last!.upperBound)
        // Guest-physical 0 on a 2 MiB boundary, so that a huge page on the
        // host backs a 2 MiB-aligned piece of the guest's memory.
        let total = size + 2 * Self.guardSize + MemoryBacking.hugePageSize
        let mapped = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { throw KVMError.mmapFailed(bytes: total, errno: errno) }
        let alignment = UInt(MemoryBacking.hugePageSize)
        let base = mapped + Int((UInt(bitPattern: mapped + Self.guardSize) + alignment - 1) / alignment * alignment
                                - UInt(bitPattern: mapped))
        for range in ram where !range.isEmpty {
            guard mprotect(base + Int(range.lowerBound), Int(range.upperBound - range.lowerBound),
                           PROT_READ | PROT_WRITE) == 0 else {
                let code = errno
                munmap(mapped, total)
                throw KVMError.mmapFailed(bytes: size, errno: code)
            }
            do {
                try backing.apply(to: base + Int(range.lowerBound), length: Int(range.upperBound - range.lowerBound))
            } catch {
                munmap(mapped, total)
                throw error
            }
        }
        self.size = size
        self.ram = ram
        untouchedPages = backing == .hugetlb ? .unknown : .zero
        mapping = mapped
        mappingSize = total
        self.base = base
    }

    /// The open file `descriptor` mapped shared, RAM range by range, each
    /// at the file offset where the one before it ends: QEMU's
    /// memory-backend-file with share=on lays RAM out so, and what it
    /// writes, the host sees.
    public convenience init(sharedFile descriptor: Int32, ram: [Range<UInt64>]) throws {
        try self.init(ram: ram)
        untouchedPages = .unknown
        var offset = 0
        for range in ram {
            let length = Int(range.upperBound - range.lowerBound)
            guard mmap(base + Int(range.lowerBound), length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, descriptor,
                       off_t(offset)) != MAP_FAILED else {
                throw KVMError.mmapFailed(bytes: length, errno: errno)
            }
            offset += length
        }
    }

    /// RAM at `ram` from `descriptor` (a snapshot's memory file, where
    /// offsets are guest-physical addresses), mapped private range by
    /// range: pages are shared until either side writes one, and the
    /// guest's writes never reach the file. Unreserved, as fresh guest
    /// memory is: a private writable mapping is otherwise charged in full
    /// against the host's commit limit (64 GiB was refused on 24 GiB).
    convenience init(copyOnWriteOf descriptor: Int32, ram: [Range<UInt64>]) throws {
        try self.init(ram: ram)
        let own = dup(descriptor)
        guard own >= 0 else { throw KVMError.mmapFailed(bytes: size, errno: errno) }
        untouchedPages = .file(own)
        for range in ram {
            let length = Int(range.upperBound - range.lowerBound)
            guard mmap(base + Int(range.lowerBound), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, descriptor,
                       off_t(range.lowerBound)) != MAP_FAILED else {
                throw KVMError.mmapFailed(bytes: length, errno: errno)
            }
        }
    }

    deinit {
        munmap(mapping, mappingSize)
        if case .file(let descriptor) = untouchedPages { close(descriptor) }
    }

    /// True when the whole range lies inside one range of RAM, without
    /// overflow: nothing reads or writes across the hole.
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = address.addingReportingOverflow(length)
        guard !overflow, end <= UInt64(size) else { return false }
        return ram.count == 1 || ram.contains { $0.lowerBound <= address && end <= $0.upperBound }
    }

    func check(_ address: UInt64, length: UInt64) throws {
        guard contains(address, length: length) else {
            throw GuestMemoryError(address: address, length: length, memorySize: UInt64(size))
        }
    }

    /// Runs `body` over the guest bytes in the range, after checking it.
    public func withBytes<R>(at address: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try check(address, length: UInt64(count))
        return try body(UnsafeRawBufferPointer(start: base + Int(address), count: count))
    }

    public func withMutableBytes<R>(at address: UInt64, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        try check(address, length: UInt64(count))
        if count > 0 { hostWrites?.insert(pages: address >> 12...(address + UInt64(count) - 1) >> 12) }
        return try body(UnsafeMutableRawBufferPointer(start: base + Int(address), count: count))
    }

    /// Bytes of the RAM range `range` resident in host memory (mincore):
    /// the pages the guest or the host touched.
    public func residentBytes(in range: Range<UInt64>) throws -> Int {
        try check(range.lowerBound, length: UInt64(range.count))
        let chunk = 1 << 30
        var vector = [UInt8](repeating: 0, count: chunk / pageBytes)
        var resident = 0
        var offset = Int(range.lowerBound)
        while offset < Int(range.upperBound) {
            let length = min(chunk, Int(range.upperBound) - offset)
            guard mincore(base + offset, length, &vector) == 0 else { throw KVMError.mmapFailed(bytes: length, errno: errno) }
            resident += vector.prefix(length / pageBytes).reduce(0) { $0 + Int($1 & 1) } * pageBytes
            offset += length
        }
        return resident
    }

    /// Bytes of guest RAM the host backs with huge pages now, from
    /// /proc/self/smaps: transparent ones (AnonHugePages) and hugetlb ones
    /// (Private_Hugetlb). What shows the backing took.
    public func hostHugePageBytes() throws -> Int {
        guard let smaps = fopen("/proc/self/smaps", "r") else { throw KVMError.mmapFailed(bytes: size, errno: errno) }
        defer { fclose(smaps) }
        let start = UInt(bitPattern: base), end = start + UInt(size)
        var inside = false
        var kibibytes = 0
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), smaps) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let dash = text.firstIndex(of: "-"), let low = UInt(text[..<dash], radix: 16),
               let space = text[dash...].firstIndex(of: " "), let high = UInt(text[text.index(after: dash)..<space], radix: 16) {
                inside = low >= start && high <= end
            } else if inside, text.hasPrefix("AnonHugePages:") || text.hasPrefix("Private_Hugetlb:") {
                kibibytes += Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
        }
        return kibibytes * 1024
    }

    /// The pages that may hold something other than zeros: those the
    /// process's page tables have present or swapped out
    /// (/proc/self/pagemap bits 63 and 62), which is every page the guest
    /// or the host ever touched, and for memory mapped from a snapshot's
    /// file, the file's pages of data (lseek SEEK_DATA). Nil where an
    /// untouched page could hold anything (hugetlb, QEMU's file) or pagemap
    /// cannot be read: then any page may. A snapshot copies these alone,
    /// and a restore zeroes no other.
    func pagesThatMayHoldData() -> PageBitmap? {
        if case .unknown = untouchedPages { return nil }
        let descriptor = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var touched = PageBitmap(pages: size / pageBytes)
        let chunk = 1 << 16  // entries a read: 512 KiB
        var entries = [UInt64](repeating: 0, count: chunk)
        for range in ram {
            var page = Int(range.lowerBound / pageSize)
            let end = Int(range.upperBound / pageSize)
            while page < end {
                let count = min(chunk, end - page)
                let offset = off_t((UInt(bitPattern: base) / UInt(pageBytes) + UInt(page)) * 8)
                let read = entries.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count * 8, offset) }
                guard read == count * 8 else { return nil }
                for index in 0..<count where entries[index] >> 62 != 0 {
                    touched.insert(pages: UInt64(page + index)...UInt64(page + index))
                }
                page += count
            }
        }
        if case .file(let descriptor) = untouchedPages {
            let dataRegions = MemoryFile.dataRegions(of: descriptor, size: size)
            for region in dataRegions {
                for page in region where contains(UInt64(page) * pageSize, length: pageSize) {
                    touched.insert(pages: UInt64(page)...UInt64(page))
                }
            }
        }
        return touched
    }

    /// Whether pages given back to the host read as zeros (private
    /// anonymous memory): then `zero(pages:mayHoldData:)` needs no map of
    /// the pages that may hold data.
    var givenBackPagesReadAsZero: Bool {
        if case .zero = untouchedPages { return true }
        return false
    }

    /// Makes `pages` (inside one range of RAM) read as zeros, touching no
    /// more than it must: anonymous memory gives them back to the host
    /// (MADV_DONTNEED; zeros at the next touch, and KVM drops its mappings);
    /// other memory has its pages that may hold data (`mayHoldData`; all of
    /// them when nil) written with zeros.
    func zero(pages: Range<Int>, mayHoldData: PageBitmap?) {
        guard !pages.isEmpty else { return }
        if givenBackPagesReadAsZero,
           madvise(base + pages.lowerBound * pageBytes, pages.count * pageBytes, MADV_DONTNEED) == 0 {
            return
        }
        for page in pages where mayHoldData?.contains(page) ?? true { memset(pagePointer(page), 0, pageBytes) }
    }

    /// Starts (or restarts, emptied) the record of pages the host writes.
    func trackHostWrites() {
        hostWrites = PageBitmap(pages: size / pageBytes)
    }

    /// The pages the host wrote since tracking began or was last taken, and
    /// an empty record from here; nil when not tracking.
    func takeHostWrites() -> PageBitmap? {
        guard let written = hostWrites else { return nil }
        hostWrites = PageBitmap(pages: size / pageBytes)
        return written
    }

    /// The guest page at `page`, whole, for copying in and out of snapshots.
    func pagePointer(_ page: Int) -> UnsafeMutableRawPointer {
        precondition(page >= 0 && page < size / pageBytes, "a page inside guest memory")
        return base + page * pageBytes
    }

    public func read(at address: UInt64, count: Int) throws -> [UInt8] {
        try withBytes(at: address, count: count) { [UInt8]($0) }
    }

    public func write(_ bytes: [UInt8], at address: UInt64) throws {
        try withMutableBytes(at: address, count: bytes.count) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }

    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) throws -> T {
        try withBytes(at: address, count: MemoryLayout<T>.size) { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }

    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws {
        try withMutableBytes(at: address, count: MemoryLayout<T>.size) { $0.storeBytes(of: value.littleEndian, as: T.self) }
    }
}

func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}
