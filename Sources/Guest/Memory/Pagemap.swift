// The Pagemap: 4-level x86-64 page tables (PML4, PDPT, PD, PT; 512 entries
// each) over a root frame. Tables are read and written through `directMap`,
// where physical address p is visible at directMap + p: the kernel's direct
// map in the guest, a buffer standing in for physical memory on the host.
//
// Invariants the Pagemap keeps:
//   - A parent entry grants at least what any entry below it grants
//     (writable, user, executable), so a user page never sits under a
//     supervisor-only parent. Nothing else of a parent restricts a leaf.
//   - Every table but the root knows how many of its entries are in use; the
//     count lives in the ignored bits of the parent entry, so unmap frees a
//     table the moment it empties without scanning 512 entries.

/// Where a walk ended.
public enum PageLocation: Equatable, Sendable {
    /// The entry that maps the address: a 4 KiB leaf (level 1), or a huge
    /// page at level 2 (2 MiB) or 3 (1 GiB).
    case present(entry: PageTableEntry, level: Int)
    /// The entry at `level` is not present (4 = PML4 ... 1 = the leaf).
    /// At level 1 it may be a lazy reservation.
    case notPresent(level: Int, lazy: Bool)
}

/// A virtual address resolved to physical memory.
public struct Translation: Equatable, Sendable {
    public let physical: UInt64
    /// What the walk allows, all levels together: writable and user only if
    /// every level says so, no-execute if any level says so.
    public let flags: PageTableFlags
    public let pageSize: UInt64
}

public struct Pagemap {
    public let root: Frame
    public let directMap: UInt
    public private(set) var tablesCreated = 0
    public private(set) var tablesFreed = 0

    public init(root: Frame, directMap: UInt) {
        self.root = root
        self.directMap = directMap
    }

    /// A new, empty Pagemap with a root table from `frames`.
    public static func create(frames: inout FrameAllocator, directMap: UInt) -> Pagemap? {
        guard let (root, mustZero) = frames.allocateTrackingZero() else { return nil }
        let pagemap = Pagemap(root: root, directMap: directMap)
        if mustZero { pagemap.zero(root) }
        return pagemap
    }

    // MARK: - The walk

    /// The one 4-level walk every operation goes through. From the root
    /// down, it hands `step` the slot and level of each entry above level
    /// `target` (4 PML4 ... 1 PT); `step` returns true to go on below that
    /// entry (which must then point at a table), false to stop. Returns the
    /// slot at level `target`, or nil when `step` stopped first (or for
    /// target 0, which visits all four levels). Inlined, so that each
    /// operation's walk is a plain loop: in the guest every instruction of
    /// it is emulated (a version that also visited the target's slot cost
    /// map about 20 us a page there).
    @inline(__always)
    @discardableResult
    private func walk<Failure: Error>(
        _ address: VirtualAddress, to target: Int,
        _ step: (_ slot: UnsafeMutablePointer<UInt64>, _ level: Int) throws(Failure) -> Bool
    ) throws(Failure) -> UnsafeMutablePointer<UInt64>? {
        var table = self.table(root.address)
        var level = 4
        while true {
            let slot = table + address.index(level: level)
            if level == target { return slot }
            guard try step(slot, level), level > 1 else { return nil }
            table = self.table(PageTableEntry(raw: slot.pointee).address)
            level -= 1
        }
    }

    // MARK: - Looking up

    /// Walks without changing anything.
    public func locatePage(_ address: VirtualAddress) -> PageLocation {
        var location = PageLocation.notPresent(level: 4, lazy: false)
        walk(address, to: 0) { slot, level in
            let entry = PageTableEntry(raw: slot.pointee)
            if !entry.isPresent {
                location = .notPresent(level: level, lazy: level == 1 && entry.isLazy)
                return false
            }
            if level == 1 || (entry.isHuge && level <= 3) {
                location = .present(entry: entry, level: level)
                return false
            }
            return true
        }
        return location
    }

    /// Every entry the walk of `address` reads, from the PML4 down, until one
    /// is not present or maps a page: for showing a walk level by level.
    public func entries(on address: VirtualAddress) -> [PageTableEntry] {
        var entries: [PageTableEntry] = []
        forEachEntry(on: address) { entries.append($0) }
        return entries
    }

    /// The entries `entries(on:)` returns, handed to `body` one by one: for
    /// the exception path, which builds its report with no heap.
    public func forEachEntry(on address: VirtualAddress, _ body: (PageTableEntry) -> Void) {
        walk(address, to: 0) { slot, level in
            let entry = PageTableEntry(raw: slot.pointee)
            body(entry)
            return entry.isPresent && !(entry.isHuge && level <= 3)
        }
    }

    /// Whether `frame` holds one of this Pagemap's tables, the root included.
    /// Reads the PML4, the PDPTs and the PDs, not the PTs: a PT's entries
    /// are pages, never tables. For refusing to free a live table.
    public func holdsTable(_ frame: Frame) -> Bool {
        if frame == root { return true }
        let pml4 = table(root.address)
        for top in 0..<entriesPerTable {
            let pml4Entry = PageTableEntry(raw: pml4[top])
            guard pml4Entry.isPresent else { continue }
            if pml4Entry.frame == frame { return true }
            let pdpt = table(pml4Entry.address)
            for middle in 0..<entriesPerTable {
                let pdptEntry = PageTableEntry(raw: pdpt[middle])
                guard pdptEntry.isPresent, !pdptEntry.isHuge else { continue }
                if pdptEntry.frame == frame { return true }
                let pd = table(pdptEntry.address)
                for bottom in 0..<entriesPerTable {
                    let pdEntry = PageTableEntry(raw: pd[bottom])
                    if pdEntry.isPresent && !pdEntry.isHuge && pdEntry.frame == frame { return true }
                }
            }
        }
        return false
    }

    /// The leaf (4 KiB) entry for `address`, building the missing tables on
    /// the way (zeroed, from `frames`) and widening parents to grant `flags`.
    /// The entry may be empty; `map` is the way to fill it.
    public mutating func locatePage(_ address: VirtualAddress, creatingTablesGranting flags: PageTableFlags,
                                    frames: inout FrameAllocator) throws(TableError) -> PageTableEntry {
        do throws(MapError) {
            return PageTableEntry(raw: try leafSlot(address, level: 1, granting: flags, frames: &frames).entry.pointee)
        } catch {
            switch error {
            case .frameAllocationFailed(let level): throw .frameAllocationFailed(level: level)
            case .parentIsHugePage(let level): throw .parentIsHugePage(level: level)
            case .alreadyMapped: preconditionFailure("the creating walk maps nothing")
            }
        }
    }

    public func translate(_ address: VirtualAddress) -> Translation? {
        // Writable and user only if every level says so (the AND of the
        // entries), no-execute if any level does (the OR): two operations a
        // level, where three tests cost more emulated instructions.
        var every = ~UInt64(0), any: UInt64 = 0
        var translation: Translation? = nil
        walk(address, to: 0) { slot, level in
            let raw = slot.pointee
            let entry = PageTableEntry(raw: raw)
            guard entry.isPresent else { return false }
            every &= raw
            any |= raw
            guard level == 1 || (entry.isHuge && level <= 3) else { return true }
            let size: UInt64 = 1 << (12 + 9 * UInt64(level - 1))
            let effective = PageTableFlags(rawValue: PageTableFlags.present.rawValue
                | (every & PageTableFlags.permissions.rawValue) | (any & PageTableFlags.noExecute.rawValue))
            let base = entry.address & ~(size - 1)
            translation = Translation(physical: base | (address.raw & (size - 1)), flags: effective, pageSize: size)
            return false
        }
        return translation
    }

    // MARK: - Mapping

    /// Maps `page` to `frame`. Missing tables come from `frames`, zeroed.
    public mutating func map(_ page: Page, to frame: Frame, flags: PageTableFlags,
                             frames: inout FrameAllocator) throws(MapError) -> TLBFlush {
        let slot = try leafSlot(page.start, level: 1, granting: flags, frames: &frames)
        let old = PageTableEntry(raw: slot.entry.pointee)
        if old.isPresent { throw .alreadyMapped(page: page.start.raw, frame: old.frame) }
        slot.entry.pointee = PageTableEntry(address: frame.address, flags: flags.union(.present)).raw
        if old.isEmpty { adjustCount(slot.parent, by: 1) }
        return TLBFlush(page: page.start.raw)
    }

    /// Maps `count` pages from `page` to the frames from `frame` on, filling
    /// each page table in one pass. For bulk work (the kernel's image at
    /// boot), where one walk per page would cost too much emulated ring 0.
    public mutating func mapRange(_ page: Page, to frame: Frame, count: UInt64, flags: PageTableFlags,
                                  frames: inout FrameAllocator) throws(MapError) -> TLBRangeFlush {
        try mapRun(page.start, level: 1, physical: frame.address, count: count,
                   entryFlags: flags.union(.present), granting: flags, frames: &frames)
        return TLBRangeFlush(first: page.start.raw, count: count, stride: pageSize)
    }

    /// Maps `count` 2 MiB pages from `page` to physical memory from
    /// `frame` on, filling each page directory in one pass (the direct map).
    public mutating func mapHugeRange(_ page: HugePage, to frame: HugeFrame, count: UInt64, flags: PageTableFlags,
                                      frames: inout FrameAllocator) throws(MapError) -> TLBRangeFlush {
        try mapRun(page.start, level: 2, physical: frame.address, count: count,
                   entryFlags: flags.union([.present, .huge]), granting: flags, frames: &frames)
        return TLBRangeFlush(first: page.start.raw, count: count, stride: hugePageSize)
    }

    /// Maps `count` 1 GiB pages from `page` to physical memory from `frame`
    /// on, filling each PDPT in one pass: the direct map where CPUID has
    /// pdpe1gb (the caller's check: without it the huge flag in a PDPT entry
    /// is a reserved bit).
    public mutating func mapGigabyteRange(_ page: GigabytePage, to frame: GigabyteFrame, count: UInt64, flags: PageTableFlags,
                                          frames: inout FrameAllocator) throws(MapError) -> TLBRangeFlush {
        try mapRun(page.start, level: 3, physical: frame.address, count: count,
                   entryFlags: flags.union([.present, .huge]), granting: flags, frames: &frames)
        return TLBRangeFlush(first: page.start.raw, count: count, stride: gigabytePageSize)
    }

    /// The leaves of `count` consecutive pages at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB)
    /// from `start`, each table's run in one tight loop: at boot every
    /// instruction is emulated, and the image and the direct map are mapped
    /// this way (measured: the direct map's loop went from 18 to 4 emulated
    /// instructions an entry, the image's second section from 7 to 4).
    @inline(__always)
    private mutating func mapRun(_ start: VirtualAddress, level: Int, physical: UInt64, count: UInt64,
                                 entryFlags: PageTableFlags, granting flags: PageTableFlags,
                                 frames: inout FrameAllocator) throws(MapError) {
        let stride: UInt64 = level == 1 ? pageSize : level == 2 ? hugePageSize : gigabytePageSize
        var entry = PageTableEntry(address: physical, flags: entryFlags).raw
        var done: UInt64 = 0
        while done < count {
            let virtual = VirtualAddress(start.raw &+ done &* stride)!
            let slot = try leafSlot(virtual, level: level, granting: flags, frames: &frames)
            let run = Int(min(UInt64(entriesPerTable - virtual.index(level: level)), count - done))
            let end = slot.entry + run
            var filled = slot.entry
            if let parent = slot.parent, parent.pointee & PageTableEntry.countStale == 0,
               PageTableEntry(raw: parent.pointee).childCount == 0 {
                // A table with no entry in use (a new one, as at boot):
                // nothing to check an entry.
                while filled < end {
                    filled.pointee = entry
                    entry &+= stride
                    filled += 1
                }
                adjustCount(slot.parent, by: run)
            } else {
                var added = 0
                while filled < end {
                    let old = filled.pointee
                    if old != 0 {
                        if old & PageTableFlags.present.rawValue != 0 {
                            adjustCount(slot.parent, by: added)  // what this run already filled stays mapped
                            throw .alreadyMapped(page: virtual.raw &+ UInt64(filled - slot.entry) &* stride,
                                                 frame: PageTableEntry(raw: old).frame)
                        }
                    } else {
                        added += 1
                    }
                    filled.pointee = entry
                    entry &+= stride
                    filled += 1
                }
                adjustCount(slot.parent, by: added)
            }
            done += UInt64(run)
        }
    }

    /// Maps one 2 MiB page (a PD entry with the huge flag).
    public mutating func mapHuge(_ page: HugePage, to frame: HugeFrame, flags: PageTableFlags,
                                 frames: inout FrameAllocator) throws(MapError) -> TLBFlush {
        let slot = try leafSlot(page.start, level: 2, granting: flags, frames: &frames)
        let old = PageTableEntry(raw: slot.entry.pointee)
        if old.isPresent { throw .alreadyMapped(page: page.start.raw, frame: old.frame) }
        slot.entry.pointee = PageTableEntry(address: frame.address, flags: flags.union([.present, .huge])).raw
        if old.isEmpty { adjustCount(slot.parent, by: 1) }
        return TLBFlush(page: page.start.raw)
    }

    /// Marks `page` as reserved but not backed: a non-present entry the page
    /// trap recognises. The tables on the way are built, granting `flags`.
    public mutating func reserveLazily(_ page: Page, flags: PageTableFlags,
                                       frames: inout FrameAllocator) throws(MapError) {
        let slot = try leafSlot(page.start, level: 1, granting: flags, frames: &frames)
        let old = PageTableEntry(raw: slot.entry.pointee)
        if old.isPresent { throw .alreadyMapped(page: page.start.raw, frame: old.frame) }
        if old.isEmpty { adjustCount(slot.parent, by: 1) }
        slot.entry.pointee = PageTableEntry.lazyMarker
    }

    // MARK: - Unmapping

    /// Unmaps a 4 KiB page (or drops its lazy reservation). The flush carries
    /// the frame the page mapped (nil for a lazy one), which stays the
    /// caller's. Tables left empty are freed.
    public mutating func unmap(_ page: Page, frames: inout FrameAllocator) throws(UnmapError) -> TLBFlush {
        try unmapLeaf(page.start, level: 1, frames: &frames)
    }

    /// Unmaps the 2 MiB page `mapHuge` mapped at `page`. The flush carries
    /// its first frame; all 512 stay the caller's. Tables left empty are freed.
    public mutating func unmapHuge(_ page: HugePage, frames: inout FrameAllocator) throws(UnmapError) -> TLBFlush {
        try unmapLeaf(page.start, level: 2, frames: &frames)
    }

    /// Unmaps the 1 GiB page `mapGigabyteRange` mapped at `page`. The flush
    /// carries its first frame; the memory stays the caller's. A PDPT left
    /// empty is freed.
    public mutating func unmapGigabyte(_ page: GigabytePage, frames: inout FrameAllocator) throws(UnmapError) -> TLBFlush {
        try unmapLeaf(page.start, level: 3, frames: &frames)
    }

    /// Clears the leaf at `leafLevel` (1: a 4 KiB entry, present or lazy;
    /// 2 or 3: a huge entry) and frees each table above it that empties. Inlined
    /// so that each caller's level is a constant: in the guest, where ring 0
    /// is emulated, every instruction of unmap counts (measured: 153 us a
    /// page not inlined, 129 us inlined).
    @inline(__always)
    private mutating func unmapLeaf(_ address: VirtualAddress, level leafLevel: Int,
                                    frames: inout FrameAllocator) throws(UnmapError) -> TLBFlush {
        var path = WalkPath()
        let found = try walk(address, to: leafLevel) { (slot, level) throws(UnmapError) -> Bool in
            let entry = PageTableEntry(raw: slot.pointee)
            guard entry.isPresent else { throw .notMapped(page: address.raw, level: level) }
            guard !entry.isHuge else { throw .parentIsHugePage(level: level) }
            path.set(level, slot)
            return true
        }
        let leaf = found!
        let entry = PageTableEntry(raw: leaf.pointee)
        guard !entry.isEmpty, leafLevel == 1 || (entry.isPresent && entry.isHuge) else {
            throw .notMapped(page: address.raw, level: leafLevel)
        }
        // A stale count is taken afresh while the leaf still counts in it.
        refreshCount(path.get(leafLevel + 1))
        leaf.pointee = 0
        // One obligation covers the tables freed below as well: an invlpg
        // drops every cached table entry along with the page's translation.
        TranslationChangeWitness.tell(root: root, address: address.raw, level: leafLevel, leaf: true,
                                      old: entry.raw, new: 0)
        // Walk back up, freeing each table that became empty.
        var level = leafLevel + 1
        while level <= 4 {
            let parent = path.get(level)
            var parentEntry = PageTableEntry(raw: parent.pointee)
            let remaining = parentEntry.childCount - 1
            if remaining > 0 {
                parentEntry.setChildCount(remaining)
                parent.pointee = parentEntry.raw
                break
            }
            parent.pointee = 0
#if MUTATION
            // A mutant kernel (scripts/mutate-flushes) may leak the table.
            if activeMutation == .keepEmptyPageTables { break }
#endif
            frames.giveBack(parentEntry.frame)
            tablesFreed += 1
            level += 1
        }
        return TLBFlush(page: address.raw, unmappedFrame: entry.isPresent ? entry.frame : nil)
    }

    // MARK: - Sharing a region between address spaces

    /// Points top-level entry `index` at the same table as `other`'s: the
    /// kernel region, shared by every process.
    public func shareTopLevelEntry(_ index: Int, from other: Pagemap) {
        table(root.address)[index] = other.table(other.root.address)[index]
    }

    /// Drops a shared top-level entry before this root is freed, so that
    /// nothing below it is taken for this address space's own.
    public func unshareTopLevelEntry(_ index: Int) {
        let slot = table(root.address) + index
        let old = slot.pointee
        slot.pointee = 0
        TranslationChangeWitness.tell(root: root, address: UInt64(index) << 39, level: 4, leaf: false, old: old, new: 0)
    }

    // MARK: - Entries, for tests that set up odd combinations

    /// Overwrites the flags of the entry at `level` on the way to `address`,
    /// keeping its address and count. For permission experiments only:
    /// the Pagemap's invariants are the caller's business afterwards.
    /// Nil when the walk cannot reach `level` (a huge page or an empty entry
    /// above it). The flush covers `address`; a changed parent entry needs
    /// `flushAll`, since every address below it may be cached.
    public func setFlags(_ flags: PageTableFlags, level: Int, of address: VirtualAddress) -> TLBFlush? {
        // Walks through entries made not-present by an earlier experiment.
        let slot = walk(address, to: level) { slot, _ in
            let entry = PageTableEntry(raw: slot.pointee)
            return entry.address != 0 && !entry.isHuge
        }
        guard let slot else { return nil }
        let old = slot.pointee
        slot.pointee = (old & ~PageTableFlags.all.rawValue) | flags.rawValue
        tellChange(at: address, level: level, old: old, new: slot.pointee)
        return TLBFlush(page: address.raw & ~(pageSize - 1))
    }

    /// The raw entry at `level` on the way to `address`, reached as
    /// `setFlags` reaches it (through entries an experiment made not
    /// present); nil where it cannot be reached.
    public func rawEntry(level: Int, of address: VirtualAddress) -> UInt64? {
        let slot = walk(address, to: level) { slot, _ in
            let entry = PageTableEntry(raw: slot.pointee)
            return entry.address != 0 && !entry.isHuge
        }
        return slot?.pointee
    }

    /// Writes `raw` into the entry at `level` on the way to `address`,
    /// reached as `setFlags` reaches it, and returns what was there; nil
    /// where it cannot be reached. For experiments only (a huge leaf in
    /// place of a table, a reserved bit): the caller puts the old entry back
    /// before the Pagemap is used again, and flushes the TLB.
    public func replaceEntry(level: Int, of address: VirtualAddress, with raw: UInt64) -> UInt64? {
        let slot = walk(address, to: level) { slot, _ in
            let entry = PageTableEntry(raw: slot.pointee)
            return entry.address != 0 && !entry.isHuge
        }
        guard let slot else { return nil }
        let old = slot.pointee
        slot.pointee = raw
        tellChange(at: address, level: level, old: old, new: raw)
        return old
    }

    /// Tells the witness of a write to the entry at `level` on the way to
    /// `address`: a leaf at level 1, or where the old entry maps a huge page.
    private func tellChange(at address: VirtualAddress, level: Int, old: UInt64, new: UInt64) {
        let leaf = level == 1 || (level <= 3 && old & PageTableFlags.huge.rawValue != 0)
        TranslationChangeWitness.tell(root: root, address: address.raw, level: level, leaf: leaf, old: old, new: new)
    }

    // MARK: - Walking with creation

    private struct Slot {
        let entry: UnsafeMutablePointer<UInt64>
        /// The entry pointing to the table that holds `entry`: nil for the root.
        let parent: UnsafeMutablePointer<UInt64>?
    }

    /// The path of parent entries of an unmap, by level (2...4).
    private struct WalkPath {
        var level2: UnsafeMutablePointer<UInt64>? = nil
        var level3: UnsafeMutablePointer<UInt64>? = nil
        var level4: UnsafeMutablePointer<UInt64>? = nil

        mutating func set(_ level: Int, _ pointer: UnsafeMutablePointer<UInt64>) {
            switch level {
            case 2: level2 = pointer
            case 3: level3 = pointer
            default: level4 = pointer
            }
        }

        func get(_ level: Int) -> UnsafeMutablePointer<UInt64> {
            switch level {
            case 2: return level2!
            case 3: return level3!
            default: return level4!
            }
        }
    }

    /// The entry at `target` level for `address`, building missing tables and
    /// widening parents so that they grant what `flags` grants.
    private mutating func leafSlot(_ address: VirtualAddress, level target: Int, granting flags: PageTableFlags,
                                   frames: inout FrameAllocator) throws(MapError) -> Slot {
        var parent: UnsafeMutablePointer<UInt64>? = nil
        var created = 0
        let grant = flags.intersection(PageTableFlags.permissions).rawValue
        let executable = !flags.contains(.noExecute)
        // Counted after the walk: the walk borrows the Pagemap while it runs.
        defer { tablesCreated += created }
        let leaf = try walk(address, to: target) { (slot, level) throws(MapError) -> Bool in
            let entry = PageTableEntry(raw: slot.pointee)
            if entry.isPresent {
                guard !entry.isHuge else { throw .parentIsHugePage(level: level) }
                var widened = entry.raw | grant
                if executable { widened &= ~PageTableFlags.noExecute.rawValue }
                if widened != entry.raw {
                    slot.pointee = widened
                    TranslationChangeWitness.tellWidened(root: root, address: address.raw, level: level)
                }
            } else {
                guard let (frame, mustZero) = frames.allocateTrackingZero() else { throw .frameAllocationFailed(level: level - 1) }
                if mustZero { zero(frame) }
                created += 1
                slot.pointee = PageTableEntry(address: frame.address, flags: PageTableFlags(rawValue: grant).union(.present)).raw
                if entry.isEmpty { adjustCount(parent, by: 1) }
            }
            parent = slot
            return true
        }
        return Slot(entry: leaf!, parent: parent)
    }

    private func adjustCount(_ parent: UnsafeMutablePointer<UInt64>?, by delta: Int) {
        guard let parent, delta != 0 else { return }
        refreshCount(parent)
        var entry = PageTableEntry(raw: parent.pointee)
        entry.setChildCount(entry.childCount + delta)
        parent.pointee = entry.raw
    }

    /// Marks the use count of the page table that maps `address` stale, so
    /// that entries may be filled without counting them (the demand-paging
    /// fast path); the count is taken afresh before it is next used.
    /// False when there is no such page table.
    @discardableResult
    public func markCountStale(for address: VirtualAddress) -> Bool {
        let slot = walk(address, to: 2) { slot, _ in
            let entry = PageTableEntry(raw: slot.pointee)
            return entry.isPresent && !entry.isHuge
        }
        guard let slot else { return false }
        let entry = PageTableEntry(raw: slot.pointee)
        guard entry.isPresent, !entry.isHuge else { return false }
        if slot.pointee & PageTableEntry.countStale == 0 { slot.pointee |= PageTableEntry.countStale }
        return true
    }

    /// Counts the used entries of the table `parent` points to when the fast
    /// path marked its count stale, and stores the count.
    private func refreshCount(_ parent: UnsafeMutablePointer<UInt64>) {
        guard parent.pointee & PageTableEntry.countStale != 0 else { return }
        var entry = PageTableEntry(raw: parent.pointee & ~PageTableEntry.countStale)
        let child = table(entry.address)
        var used = 0
        for index in 0..<entriesPerTable where child[index] != 0 { used += 1 }
        entry.setChildCount(used)
        parent.pointee = entry.raw
    }

    func table(_ physical: UInt64) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer<UInt64>(bitPattern: directMap + UInt(physical))!
    }

    /// Zeroes a new table (one the allocator does not know to hold zeros).
    private func zero(_ frame: Frame) {
        table(frame.address).update(repeating: 0, count: entriesPerTable)
    }
}
