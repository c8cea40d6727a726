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
/// start; anonymous for KVM, or a file QEMU maps shared (`init(sharedFile:)`).
/// Starts zeroed, as the guest expects. Owns the mapping.
///
/// An inaccessible guard page lies on each side, so that a host read or write
/// that escaped the bounds checks below would fault at once instead of
/// quietly touching other host memory.
public final class GuestMemory {
    public let size: Int
    let base: UnsafeMutableRawPointer
    private let mapping: UnsafeMutableRawPointer
    private static let guardSize = 4096
    /// Pages the host wrote since tracking began (`trackHostWrites`): KVM's
    /// dirty log sees only the guest's writes, and a restore must undo both.
    private var hostWrites: PageBitmap?

    public init(size: Int) throws {
        let total = size + 2 * Self.guardSize
        let mapped = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { throw KVMError.mmapFailed(bytes: total, errno: errno) }
        guard mprotect(mapped + Self.guardSize, size, PROT_READ | PROT_WRITE) == 0 else {
            let code = errno
            munmap(mapped, total)
            throw KVMError.mmapFailed(bytes: size, errno: code)
        }
        self.size = size
        mapping = mapped
        base = mapped + Self.guardSize
    }

    /// The first `size` bytes of the open file `descriptor`, mapped shared:
    /// what QEMU's memory-backend-file with share=on writes, the host sees.
    public convenience init(sharedFile descriptor: Int32, size: Int) throws {
        try self.init(size: size)
        guard mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, descriptor, 0) != MAP_FAILED else {
            throw KVMError.mmapFailed(bytes: size, errno: errno)
        }
    }

    /// The first `size` bytes of `descriptor` (a snapshot's memory file),
    /// mapped private: pages are shared until either side writes one, and
    /// the guest's writes never reach the file.
    convenience init(copyOnWriteOf descriptor: Int32, size: Int) throws {
        try self.init(size: size)
        guard mmap(base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, descriptor, 0) != MAP_FAILED else {
            throw KVMError.mmapFailed(bytes: size, errno: errno)
        }
    }

    deinit { munmap(mapping, size + 2 * Self.guardSize) }

    /// True when the whole range lies inside guest memory, without overflow.
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        let (end, overflow) = address.addingReportingOverflow(length)
        return !overflow && end <= UInt64(size)
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

    /// Starts (or restarts, emptied) the record of pages the host writes.
    func trackHostWrites() {
        hostWrites = PageBitmap(pages: size / 4096)
    }

    /// The pages the host wrote since tracking began or was last taken, and
    /// an empty record from here; nil when not tracking.
    func takeHostWrites() -> PageBitmap? {
        guard let written = hostWrites else { return nil }
        hostWrites = PageBitmap(pages: size / 4096)
        return written
    }

    /// The guest page at `page`, whole, for copying in and out of snapshots.
    func pagePointer(_ page: Int) -> UnsafeMutableRawPointer {
        precondition(page >= 0 && page < size / 4096, "a page inside guest memory")
        return base + page * 4096
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
