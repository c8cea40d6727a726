import Foundation

/// A guest address space as regions, in the manner of pmap or
/// /proc/PID/maps: every present mapping found by walking all four levels
/// from CR3, with runs of pages that continue each other (same access, same
/// page size, physically contiguous) joined into one region.
public struct AddressSpaceMap: Sendable, CustomStringConvertible {
    public struct Region: Equatable, Sendable {
        public var start: UInt64
        public var end: UInt64
        public var physicalStart: UInt64
        public var pageSize: UInt64
        public var access: PageWalk.Access
    }

    public let regions: [Region]

    /// Reads the tables at `cr3` from guest memory.
    public init(memory: GuestMemory, cr3: UInt64) throws {
        var regions: [Region] = []
        func visit(_ table: UInt64, level: Int, base: UInt64, writable: Bool, user: Bool, executable: Bool) throws {
            let span: UInt64 = 1 << UInt64(12 + 9 * (level - 1))
            for index in 0..<512 {
                let entry = try memory.load(UInt64.self, at: table + UInt64(index * 8))
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
                    if var last = regions.last, last.end == virtual, last.access == access, last.pageSize == span,
                       last.physicalStart + (last.end - last.start) == physical {
                        last.end += span
                        regions[regions.count - 1] = last
                    } else {
                        regions.append(Region(start: virtual, end: virtual + span, physicalStart: physical,
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
            let size = region.end - region.start
            let sizeText = size >= 1 << 30 ? "\(size >> 30) GiB" : size >= 1 << 20 ? "\(size >> 20) MiB" : "\(size >> 10) KiB"
            let pages = region.pageSize == 4096 ? "4K" : region.pageSize == 2 << 20 ? "2M" : "1G"
            return "\(pad(region.start))-\(pad(region.end))  \(sizeText.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                + "\(region.access.description.padding(toLength: 14, withPad: " ", startingAt: 0)) \(pages) pages -> \(pad(region.physicalStart))"
        }.joined(separator: "\n")
    }

    private func pad(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}
