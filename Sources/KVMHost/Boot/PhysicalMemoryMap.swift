import MemoryManager
import GuestProtocol

/// The E820-style memory map handed to the guest in hvm_start_info. Every
/// byte of guest RAM (`GuestRAM`: one range, or two around the 32-bit hole,
/// which has no entry) is in exactly one entry; whatever is not usable RAM
/// is marked reserved: page 0, the legacy hole 0xA0000-0xFFFFF, and any hole
/// the caller asks for.
public struct PhysicalMemoryMap: Equatable, Sendable {
    public static let legacyHole: Range<UInt64> = 0xA0000..<0x100000
    public static let pageZero: Range<UInt64> = 0..<0x1000

    public private(set) var entries: [MemoryMapEntry]

    /// Entries the PVH boot page holds and the guest's ready report carries back.
    public static var maximumEntries: Int { min(PVHBoot.maximumMemoryMapEntries, ReadyRecord.maximumMemoryMapEntries) }

    /// The map of `memorySize` bytes of RAM laid out as QEMU's pc machine
    /// does (`GuestRAM`), with `holes` also reserved.
    public init(memorySize: UInt64, holes: [Range<UInt64>] = []) throws(MemoryMapError) {
        try self.init(ram: GuestRAM.rangeList(bytes: memorySize), holes: holes)
    }

    /// The map of RAM at `ram` (sorted, disjoint) with `holes` also
    /// reserved. Holes must be page-aligned, non-empty and inside one range
    /// of RAM; the map must leave usable RAM and fit what the guest can take.
    public init(ram: [Range<UInt64>], holes: [Range<UInt64>] = []) throws(MemoryMapError) {
        let memorySize = ram.reduce(0) { $0 &+ ($1.upperBound &- $1.lowerBound) }
        var reserved = [Self.pageZero, Self.legacyHole]
        for hole in holes {
            guard !hole.isEmpty else { throw .emptyHole(hole) }
            guard hole.lowerBound % pageSize == 0, hole.upperBound % pageSize == 0 else { throw .holeNotPageAligned(hole) }
            guard ram.contains(where: { $0.lowerBound <= hole.lowerBound && hole.upperBound <= $0.upperBound }) else {
                throw .holeOutsideMemory(hole, memorySize: memorySize)
            }
            reserved.append(hole)
        }
        // Walk each range of RAM once, cutting at every reserved boundary.
        var entries: [MemoryMapEntry] = []
        for range in ram {
            var cuts = Set<UInt64>([range.lowerBound, range.upperBound])
            for hole in reserved where hole.overlaps(range) {
                cuts.insert(max(hole.lowerBound, range.lowerBound))
                cuts.insert(min(hole.upperBound, range.upperBound))
            }
            let points = cuts.sorted()
            for (start, end) in zip(points, points.dropFirst()) where start < end {
                let isReserved = reserved.contains { $0.lowerBound <= start && end <= $0.upperBound }
                let type = isReserved ? MemoryType.reserved : MemoryType.ram
                if let last = entries.last, last.type == type, last.end == start {
                    entries[entries.count - 1].length += end - start
                } else {
                    entries.append(MemoryMapEntry(base: start, length: end - start, type: type))
                }
            }
        }
        self.entries = entries
        guard entries.contains(where: \.isRAM) else { throw .noUsableRAM }
        guard entries.count <= Self.maximumEntries else { throw .tooManyEntries(entries.count, limit: Self.maximumEntries) }
    }

    /// The map another machine (QEMU's firmware) gave the guest, as the
    /// guest's ready report carries it back: taken as it is, for tests to
    /// derive their expectations from.
    public init(reported entries: [MemoryMapEntry]) {
        self.entries = entries
    }

    /// The whole 4 KiB frames inside RAM entries, sorted, with ranges that
    /// touch or overlap merged: what the guest's frame allocator records.
    public var usableRanges: [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        for entry in entries.filter(\.isRAM).sorted(by: { $0.base < $1.base }) {
            let start = (entry.base + (pageSize - 1)) & ~(pageSize - 1), end = entry.end & ~(pageSize - 1)
            guard start < end else { continue }
            if let last = ranges.last, start <= last.upperBound {
                ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, end)
            } else {
                ranges.append(start..<end)
            }
        }
        return ranges
    }

    /// Usable frames (`usableRanges`) at or above `address`.
    public func usableFrames(from address: UInt64 = 0) -> UInt64 {
        usableRanges.reduce(0) { count, range in
            range.upperBound > address ? count + (range.upperBound - max(range.lowerBound, address)) / pageSize : count
        }
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

/// A memory map the host will not hand to the guest, and why.
public enum MemoryMapError: Error, Equatable, CustomStringConvertible {
    case emptyHole(Range<UInt64>)
    case holeNotPageAligned(Range<UInt64>)
    case holeOutsideMemory(Range<UInt64>, memorySize: UInt64)
    /// The holes leave no usable RAM at all.
    case noUsableRAM
    case tooManyEntries(Int, limit: Int)
    /// A hole covers part of the kernel image, which must load into RAM.
    case holeOverlapsKernel(Range<UInt64>, kernel: Range<UInt64>)

    public var description: String {
        func range(_ range: Range<UInt64>) -> String { "[\(hex(range.lowerBound)), \(hex(range.upperBound)))" }
        switch self {
        case .emptyHole(let hole): return "the reserved range \(range(hole)) is empty"
        case .holeNotPageAligned(let hole): return "the reserved range \(range(hole)) does not start and end on 4 KiB pages"
        case .holeOutsideMemory(let hole, let size):
            return "the reserved range \(range(hole)) is not inside one range of guest RAM (\(size >> 20) MiB)"
        case .noUsableRAM: return "the reserved ranges leave no usable RAM"
        case .tooManyEntries(let count, let limit):
            return "the memory map would have \(count) entries; the guest takes \(limit)"
        case .holeOverlapsKernel(let hole, let kernel):
            return "the reserved range \(range(hole)) covers part of the kernel image at \(range(kernel))"
        }
    }
}

extension MemoryMapEntry: CustomStringConvertible {
    public var description: String {
        "[\(hex(base)), \(hex(end))) \(isRAM ? "RAM" : "reserved(\(type))")"
    }
}
