import Foundation

/// A guest address space as regions, in the manner of pmap or
/// /proc/PID/maps: every present mapping found by walking all four levels
/// from CR3, with runs of pages that continue each other (same access, same
/// page size, physically contiguous) joined into one region.
public struct AddressSpaceMap: Sendable, CustomStringConvertible {
    public struct Region: Equatable, Sendable {
        public var start: UInt64
        /// 0 for a region that reaches the top of the address space.
        public var end: UInt64
        public var physicalStart: UInt64
        public var pageSize: UInt64
        public var access: PageWalk.Access
    }

    public let regions: [Region]

    /// What one map may cost the host. The tables are the guest's: a root
    /// whose entries point back at itself describes 512^4 leaves, so the
    /// walk counts what it reads and stops, with a typed error, at the limit.
    public struct Limits: Sendable {
        /// Page tables read (512 entries each).
        public var tables: Int
        /// Regions kept (about 48 bytes each).
        public var regions: Int

        public init(tables: Int = 16_384, regions: Int = 1 << 18) {
            self.tables = tables
            self.regions = regions
        }
        /// 16,384 tables map 32 GiB in 4 KiB pages, ten times the largest
        /// guest's RAM; 262,144 regions cost at most 12 MiB of host memory.
        public static let standard = Limits()
    }

    /// Reads the tables at `cr3` from guest memory, within `limits`.
    public init(memory: GuestMemory, cr3: UInt64, limits: Limits = .standard) throws(AddressSpaceMapError) {
        var regions: [Region] = []
        var tablesRead = 0
        var entries = [UInt64](repeating: 0, count: 512)
        func visit(_ table: UInt64, level: Int, base: UInt64, writable: Bool, user: Bool, executable: Bool) throws(AddressSpaceMapError) {
            guard tablesRead < limits.tables else { throw .tooManyTables(limit: limits.tables, cr3: cr3) }
            tablesRead += 1
            do {
                try memory.withBytes(at: table, count: PageWalker.tableBytes) { bytes in
                    for index in 0..<512 { entries[index] = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
                }
            } catch {
                throw .tableOutsideMemory(level: level, table: table, memorySize: UInt64(memory.size))
            }
            let table = entries
            let span: UInt64 = 1 << UInt64(12 + 9 * (level - 1))
            for index in 0..<512 {
                let entry = table[index]
                guard entry & PageWalker.present != 0 else { continue }
                var virtual = base + UInt64(index) * span
                if virtual & (1 << 47) != 0 { virtual |= 0xFFFF_0000_0000_0000 }  // sign-extend the upper half
                let w = writable && entry & PageWalker.writable != 0
                let u = user && entry & PageWalker.user != 0
                let x = executable && entry & PageWalker.noExecute == 0
                let address = entry & PageWalker.addressBits
                if level == 1 || (level <= 3 && entry & PageWalker.pageSizeBit != 0) {
                    let access = PageWalk.Access(writable: w, user: u, executable: x)
                    let physical = address & ~(span - 1)
                    // Wrapping: a page at the very top of the address space ends at 0.
                    if var last = regions.last, last.end == virtual, last.access == access, last.pageSize == span,
                       last.physicalStart &+ (last.end &- last.start) == physical {
                        last.end &+= span
                        regions[regions.count - 1] = last
                    } else {
                        guard regions.count < limits.regions else { throw .tooManyRegions(limit: limits.regions, cr3: cr3) }
                        regions.append(Region(start: virtual, end: virtual &+ span, physicalStart: physical,
                                              pageSize: span, access: access))
                    }
                } else {
                    try visit(address, level: level - 1, base: virtual, writable: w, user: u, executable: x)
                }
            }
        }
        try visit(cr3 & PageWalker.addressBits, level: 4, base: 0, writable: true, user: true, executable: true)
        self.regions = regions
    }

    public var description: String {
        regions.map { region in
            let size = region.end &- region.start
            let sizeText = size >= 1 << 30 ? "\(size >> 30) GiB" : size >= 1 << 20 ? "\(size >> 20) MiB" : "\(size >> 10) KiB"
            let pages = region.pageSize == 4 << 10 ? "4K" : region.pageSize == 2 << 20 ? "2M" : "1G"
            return "\(pad(region.start))-\(pad(region.end))  \(sizeText.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                + "\(region.access.description.padding(toLength: 14, withPad: " ", startingAt: 0)) \(pages) pages -> \(pad(region.physicalStart))"
        }.joined(separator: "\n")
    }

    private func pad(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

/// Why the host gave up mapping a guest address space.
public enum AddressSpaceMapError: Error, Equatable, CustomStringConvertible {
    /// A table (level 4 = PML4 ... 1 = PT) lies outside guest memory.
    case tableOutsideMemory(level: Int, table: UInt64, memorySize: UInt64)
    /// More tables than the limit: tables that point back at themselves or
    /// at each other, or an address space larger than any guest's.
    case tooManyTables(limit: Int, cr3: UInt64)
    case tooManyRegions(limit: Int, cr3: UInt64)

    public var description: String {
        switch self {
        case .tableOutsideMemory(let level, let table, let size):
            return "a level-\(level) page table at \(hex(table)) lies outside guest memory (\(size) bytes)"
        case .tooManyTables(let limit, let cr3):
            return "the address space at CR3 \(hex(cr3)) has more than \(limit) page tables "
                + "(tables that point back at themselves?): the host stopped walking it"
        case .tooManyRegions(let limit, let cr3):
            return "the address space at CR3 \(hex(cr3)) has more than \(limit) regions: the host stopped walking it"
        }
    }
}
