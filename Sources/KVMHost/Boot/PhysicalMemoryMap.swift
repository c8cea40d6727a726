import GuestProtocol

/// The E820-style memory map handed to the guest in hvm_start_info. Every
/// byte of guest memory is in exactly one entry; whatever is not usable RAM
/// is marked reserved: page 0, the legacy hole 0xA0000-0xFFFFF, and any hole
/// the caller asks for.
public struct PhysicalMemoryMap: Equatable, Sendable {
    public struct Entry: Equatable, Sendable, CustomStringConvertible {
        public var base: UInt64
        public var length: UInt64
        public var type: UInt32
        public var end: UInt64 { base + length }
        public var isRAM: Bool { type == MemoryType.ram }

        public init(base: UInt64, length: UInt64, type: UInt32) {
            self.base = base
            self.length = length
            self.type = type
        }

        public var description: String {
            "[\(hex(base)), \(hex(end))) \(type == MemoryType.ram ? "RAM" : "reserved(\(type))")"
        }
    }

    public static let legacyHole: Range<UInt64> = 0xA0000..<0x100000
    public static let pageZero: Range<UInt64> = 0..<0x1000

    public private(set) var entries: [Entry]

    /// The map of `memorySize` bytes with `holes` also reserved. Holes must be
    /// page-aligned and inside memory.
    public init(memorySize: UInt64, holes: [Range<UInt64>] = []) throws {
        var reserved = [Self.pageZero, Self.legacyHole]
        for hole in holes {
            guard hole.lowerBound % 4096 == 0, hole.upperBound % 4096 == 0, !hole.isEmpty,
                  hole.upperBound <= memorySize else {
                throw MemoryMapError.badHole(hole, memorySize: memorySize)
            }
            reserved.append(hole)
        }
        // Walk the memory once, cutting at every reserved boundary.
        var cuts = Set<UInt64>([0, memorySize])
        for range in reserved {
            cuts.insert(min(range.lowerBound, memorySize))
            cuts.insert(min(range.upperBound, memorySize))
        }
        let points = cuts.sorted()
        var entries: [Entry] = []
        for (start, end) in zip(points, points.dropFirst()) where start < end {
            let isReserved = reserved.contains { $0.lowerBound <= start && end <= $0.upperBound }
            let type = isReserved ? MemoryType.reserved : MemoryType.ram
            if let last = entries.last, last.type == type, last.end == start {
                entries[entries.count - 1].length += end - start
            } else {
                entries.append(Entry(base: start, length: end - start, type: type))
            }
        }
        self.entries = entries
    }

    public var usableBytes: UInt64 {
        entries.filter(\.isRAM).reduce(0) { $0 + $1.length }
    }

    /// True when the whole range lies in usable RAM.
    public func isUsableRAM(_ range: Range<UInt64>) -> Bool {
        if range.isEmpty { return true }
        return entries.contains { $0.isRAM && $0.base <= range.lowerBound && range.upperBound <= $0.end }
    }
}

public enum MemoryMapError: Error, Equatable, CustomStringConvertible {
    case badHole(Range<UInt64>, memorySize: UInt64)

    public var description: String {
        switch self {
        case .badHole(let hole, let size):
            return "memory hole [\(hex(hole.lowerBound)), \(hex(hole.upperBound))) must be page-aligned, non-empty and inside \(size) bytes of memory"
        }
    }
}
