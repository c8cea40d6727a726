// A memory space hands out virtual memory within its arena (one 512 GiB
// top-level region unless told otherwise), as the design notes describe:
// from a high-water mark, below which everything may be in use. Once the
// mark reaches the end of the arena, allocation falls back to reusing lower
// addresses that were freed.
//
// The notes' fallback checks page by page that each address is unmapped.
// That was built and measured (Benchmarks/PagemapBenchmark) against searching
// the gaps between the space's reservations, which the space keeps sorted
// anyway (the page trap needs them to tell an address that is allocated but
// not backed yet from one that was never allocated). The gap search is kept:
// it costs one step per reservation instead of a page walk per page, and the
// page-by-page check cannot see lazy reservations, which map nothing, so it
// would hand their addresses out twice unless it also consulted the list.

public enum Backing: Equatable, Sendable {
    /// Frames come later, one page at a time, from the page trap.
    case lazy
    /// Every page is backed by a frame now.
    case eager
    /// Never backed, never accessible: a guard page below a stack.
    case guardPage
}

public struct Reservation: Equatable, Sendable {
    public let start: UInt64
    public let pageCount: UInt64
    public let backing: Backing
    public let flags: PageTableFlags

    public var end: UInt64 { start + pageCount * pageSize }
    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }
}

public enum MemorySpaceError: Error, Equatable {
    case invalidSize(pages: UInt64)
    /// No gap of `pages` pages is left in the arena.
    case outOfAddressSpace(pages: UInt64)
    case outOfFrames
    case notReserved(address: UInt64)
    /// A fixed reservation overlaps another one or leaves the arena.
    case overlaps(address: UInt64)
    /// Mapping an eager reservation's page failed.
    case map(MapError)
}

public struct MemorySpace: ~Copyable {
    public let base: UInt64
    public let limit: UInt64
    public private(set) var highWaterMark: UInt64
    /// Sorted by start, never overlapping.
    public private(set) var reservations: [Reservation] = []
    /// How many reservations the fallback placed below the mark.
    public private(set) var fallbackCount = 0

    public static let regionSize: UInt64 = 512 << 30

    /// A space over `[base, limit)`, both page-aligned and canonical.
    public init(base: UInt64, limit: UInt64) {
        self.base = base
        self.limit = limit
        highWaterMark = base
    }

    /// The reservation that holds `address`, if any: what the page trap asks.
    public func reservation(containing address: UInt64) -> Reservation? {
        var low = 0
        var high = reservations.count
        while low < high {
            let middle = (low + high) / 2
            if reservations[middle].end <= address { low = middle + 1 } else { high = middle }
        }
        return low < reservations.count && reservations[low].contains(address) ? reservations[low] : nil
    }

    /// Reserves `pages` pages and returns the first address. Eager backing
    /// maps a frame (zeroed unless known zero) under every page, and hands
    /// each page to `invalidate` (a table entry above it may have widened).
    public mutating func reserve(pages: UInt64, backing: Backing, flags: PageTableFlags,
                                 pagemap: inout Pagemap, frames: inout FrameAllocator,
                                 zero: (Frame) -> Void, invalidate: (UInt64) -> Void) throws(MemorySpaceError) -> UInt64 {
        guard pages > 0, pages <= (limit - base) / pageSize else { throw .invalidSize(pages: pages) }
        let size = pages * pageSize
        let start: UInt64
        if limit - highWaterMark >= size && !overlapsAny(highWaterMark, size) {
            start = highWaterMark
            highWaterMark += size
        } else {
            guard let gap = firstGap(size) else { throw .outOfAddressSpace(pages: pages) }
            start = gap
            fallbackCount += 1
        }
        try place(start: start, pages: pages, backing: backing, flags: flags, pagemap: &pagemap, frames: &frames, zero: zero, invalidate: invalidate)
        return start
    }

    /// Reserves `pages` pages at `start` exactly: a program's segments, a
    /// stack and its guard page. The mark stays where it is.
    public mutating func reserve(at start: UInt64, pages: UInt64, backing: Backing, flags: PageTableFlags,
                                 pagemap: inout Pagemap, frames: inout FrameAllocator,
                                 zero: (Frame) -> Void, invalidate: (UInt64) -> Void) throws(MemorySpaceError) {
        guard pages > 0, start % pageSize == 0 else { throw .invalidSize(pages: pages) }
        let size = pages * pageSize
        guard start >= base, start <= limit, limit - start >= size, !overlapsAny(start, size) else {
            throw .overlaps(address: start)
        }
        try place(start: start, pages: pages, backing: backing, flags: flags, pagemap: &pagemap, frames: &frames, zero: zero, invalidate: invalidate)
        // A fixed range the mark sits in (a program loaded at the base) moves
        // the mark past it; one far above (a stack at the top) does not.
        if start <= highWaterMark && highWaterMark < start + size { highWaterMark = start + size }
    }

    private func overlapsAny(_ start: UInt64, _ size: UInt64) -> Bool {
        for reservation in reservations where reservation.start < start + size && start < reservation.end { return true }
        return false
    }

    private mutating func place(start: UInt64, pages: UInt64, backing: Backing, flags: PageTableFlags,
                                pagemap: inout Pagemap, frames: inout FrameAllocator,
                                zero: (Frame) -> Void, invalidate: (UInt64) -> Void) throws(MemorySpaceError) {
        let size = pages * pageSize
        let reservation = Reservation(start: start, pageCount: pages, backing: backing, flags: flags)
        if backing == .eager {
            var mapped: UInt64 = 0
            do throws(MemorySpaceError) {
                while mapped < pages {
                    guard let (frame, mustZero) = frames.allocateTrackingZero() else { throw MemorySpaceError.outOfFrames }
                    if mustZero { zero(frame) }
                    do {
                        // No TLB holds the new page, but a table entry above it
                        // may have been widened: the caller invalidates where
                        // the space is loaded.
                        try pagemap.map(Page(startingAt: start + mapped * pageSize)!, to: frame, flags: flags, frames: &frames)
                            .flush(invalidate)
                    } catch {
                        frames.giveBack(frame)
                        throw MemorySpaceError.map(error)
                    }
                    mapped += 1
                }
            } catch {
                unmapAndFree(start, pages: mapped, pagemap: &pagemap, frames: &frames, invalidate: invalidate)
                if start + size == highWaterMark { highWaterMark = start }
                throw error
            }
        }
        insert(reservation)
    }

    /// Frees the reservation starting at `start`: unmaps every backed page,
    /// gives its frame back, and flushes it through `invalidate`.
    public mutating func free(_ start: UInt64, pagemap: inout Pagemap, frames: inout FrameAllocator,
                              invalidate: (UInt64) -> Void) throws(MemorySpaceError) {
        guard let index = reservations.firstIndex(where: { $0.start == start }) else { throw .notReserved(address: start) }
        let reservation = reservations.remove(at: index)
        unmapAndFree(start, pages: reservation.pageCount, pagemap: &pagemap, frames: &frames, invalidate: invalidate)
        // Space freed right below the mark is the mark's again: no fallback
        // needed for it. (Fixed reservations above the mark, like a stack, stay.)
        if reservation.end == highWaterMark {
            var mark = base
            for other in reservations where other.end <= reservation.start { mark = max(mark, other.end) }
            highWaterMark = mark
        }
    }

    /// Makes the reservation at `start` read-only: its flags, so that its
    /// lazy pages fault in read-only, and every page of it already backed,
    /// whose old translation each goes to `invalidate` (until then another
    /// CPU may still write through it). Parents keep granting write: they
    /// may grant more than their leaves.
    public mutating func makeReadOnly(_ start: UInt64, pagemap: inout Pagemap, invalidate: (UInt64) -> Void) throws(MemorySpaceError) {
        guard let index = reservations.firstIndex(where: { $0.start == start }) else { throw .notReserved(address: start) }
        let old = reservations[index]
        let flags = old.flags.subtracting(.writable)
        reservations[index] = Reservation(start: old.start, pageCount: old.pageCount, backing: old.backing, flags: flags)
        for page in 0..<old.pageCount {
            let address = VirtualAddress(old.start + page * pageSize)!
            guard let entry = pagemap.rawEntry(level: 1, of: address), PageTableEntry(raw: entry).isPresent,
                  PageTableEntry(raw: entry).flags.contains(.writable),
                  let flush = pagemap.setFlags(PageTableEntry(raw: entry).flags.subtracting(.writable), level: 1, of: address) else { continue }
            flush.flush(invalidate)
        }
    }

    /// Unmaps every backed page of the range. Where a whole table is
    /// missing, the walk skips everything that table would map, so freeing a
    /// big lazy reservation costs its tables, not its pages.
    private func unmapAndFree(_ start: UInt64, pages: UInt64, pagemap: inout Pagemap, frames: inout FrameAllocator,
                              invalidate: (UInt64) -> Void) {
        let end = start + pages * pageSize
        var address = start
        while address < end {
            switch pagemap.locatePage(VirtualAddress(address)!) {
            case .notPresent(let level, let lazy) where level > 1 || !lazy:
                let span: UInt64 = 1 << (12 + 9 * UInt64(level - 1))
                address = (address & ~(span - 1)) + span
            default:
                if let flush = try? pagemap.unmap(Page(startingAt: address)!, frames: &frames) {
                    let frame = flush.unmappedFrame
                    flush.flush(invalidate)
                    if let frame { frames.giveBack(frame) }
                }
                address += pageSize
            }
        }
    }

    /// The lowest gap of `size` bytes between reservations below the mark.
    private func firstGap(_ size: UInt64) -> UInt64? {
        var cursor = base
        for reservation in reservations {
            if reservation.start - cursor >= size { return cursor }
            cursor = reservation.end
        }
        return limit - cursor >= size ? cursor : nil
    }

    private mutating func insert(_ reservation: Reservation) {
        var index = reservations.count
        while index > 0 && reservations[index - 1].start > reservation.start { index -= 1 }
        reservations.insert(reservation, at: index)
    }
}
