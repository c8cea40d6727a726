import MemoryManager
import XCTest

/// What the Pagemap tells the TLB checker: every write that takes something
/// away from a present translation, with its root, address, level and kind,
/// and nothing else.
final class TranslationChangeTests: XCTestCase {
    struct Told: Equatable {
        var root: UInt64, address: UInt64, level: UInt8, leaf: Bool, change: TranslationChange
    }
    nonisolated(unsafe) static var told: [Told] = []

    override func setUp() {
        Self.told = []
        TranslationChangeWitness.witness = { root, address, level, leaf, change in
            TranslationChangeTests.told.append(Told(root: root, address: address, level: level, leaf: leaf,
                                                    change: TranslationChange(rawValue: change)!))
        }
    }

    override func tearDown() { TranslationChangeWitness.witness = nil }

    /// Each bit on its own, and what removing or adding it means.
    func testEachBitsChange() {
        let present = PageTableFlags.present.rawValue, frameA: UInt64 = 0x5000, frameB: UInt64 = 0x6000
        let base = frameA | present | PageTableFlags([.writable, .user]).rawValue
        XCTAssertNil(TranslationChange(old: 0, new: base), "nothing was present")
        XCTAssertNil(TranslationChange(old: PageTableEntry.lazyMarker, new: base), "a lazy entry is not present")
        XCTAssertEqual(TranslationChange(old: base, new: 0), .unmapped)
        XCTAssertEqual(TranslationChange(old: base, new: PageTableEntry.lazyMarker), .unmapped)
        XCTAssertEqual(TranslationChange(old: base, new: base & ~frameA | frameB), .frameChanged)
        XCTAssertEqual(TranslationChange(old: base, new: base & ~PageTableFlags.writable.rawValue), .madeReadOnly)
        XCTAssertEqual(TranslationChange(old: base, new: base & ~PageTableFlags.user.rawValue), .madeSupervisorOnly)
        XCTAssertEqual(TranslationChange(old: base, new: base | PageTableFlags.noExecute.rawValue), .madeNoExecute)
        XCTAssertEqual(TranslationChange(old: base, new: base | PageTableFlags.huge.rawValue), .sizeOrTypeChanged)
        XCTAssertEqual(TranslationChange(old: base, new: base | PageTableFlags.cacheDisable.rawValue), .sizeOrTypeChanged)
        XCTAssertEqual(TranslationChange(old: base, new: base | PageTableFlags.writeThrough.rawValue), .sizeOrTypeChanged)
        // Granting more, and the bits the MMU or the Pagemap keep for themselves, change no translation.
        let narrow = frameA | present | PageTableFlags.noExecute.rawValue
        XCTAssertNil(TranslationChange(old: narrow, new: narrow | PageTableFlags([.writable, .user]).rawValue))
        XCTAssertNil(TranslationChange(old: narrow, new: narrow & ~PageTableFlags.noExecute.rawValue))
        for kept in [PageTableFlags.accessed.rawValue, PageTableFlags.dirty.rawValue, PageTableEntry.countStale, 0x7 << 9, 0x7F << 52] {
            XCTAssertNil(TranslationChange(old: base, new: base | kept), "bits \(String(kept, radix: 16))")
            XCTAssertNil(TranslationChange(old: base | kept, new: base), "bits \(String(kept, radix: 16))")
        }
    }

    /// A table entry widened above a new page: each level that grants
    /// less than the page is told, at the new page's address. (Tables are
    /// made executable: only write and user access widen them.)
    func testWideningATableEntryAboveANewPageIsTold() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let frame = Frame(containing: 0x20_0000)
        _ = try pagemap.map(Page(startingAt: 0x40_0000_1000)!, to: frame, flags: [.noExecute], frames: &memory.harness.allocator).done()
        XCTAssertEqual(Self.told, [])
        _ = try pagemap.map(Page(startingAt: 0x40_0000_2000)!, to: frame, flags: [.writable, .noExecute],
                            frames: &memory.harness.allocator).done()
        XCTAssertEqual(Self.told, [4, 3, 2].map {
            Told(root: pagemap.root.address, address: 0x40_0000_2000, level: $0, leaf: false, change: .tableEntryWidened)
        })
        Self.told = []
        _ = try pagemap.map(Page(startingAt: 0x40_0000_3000)!, to: frame, flags: [.writable, .noExecute],
                            frames: &memory.harness.allocator).done()
        _ = try pagemap.map(Page(startingAt: 0x40_0000_4000)!, to: frame, flags: [.user], frames: &memory.harness.allocator).done()
        XCTAssertEqual(Self.told.map(\.level), [4, 3, 2], "user access widens each level once; the same grant again widens nothing")
        XCTAssertEqual(Set(Self.told.map(\.address)), [0x40_0000_4000])
    }

    /// Over every pair of entries made of these bits: a change is named
    /// exactly when the new entry takes away what the old one granted
    /// (presence, the frame, write, user, execute) or changes size or type,
    /// and the first of those in that order is the one named.
    func testEveryPairOfEntriesAgreesWithTheRule() {
        let bits: [UInt64] = [1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 5, 1 << 7, 1 << 63, 0x5000, 0x6000]
        for oldMask in 0..<(1 << bits.count) {
            for newMask in 0..<(1 << bits.count) {
                let old = entry(bits, oldMask), new = entry(bits, newMask)
                func has(_ raw: UInt64, _ bit: UInt64) -> Bool { raw & bit != 0 }
                var expected: TranslationChange?
                if has(old, 1) {
                    if !has(new, 1) { expected = .unmapped }
                    else if old & 0xF000 != new & 0xF000 { expected = .frameChanged }
                    else if has(old, 2) && !has(new, 2) { expected = .madeReadOnly }
                    else if has(old, 4) && !has(new, 4) { expected = .madeSupervisorOnly }
                    else if !has(old, 1 << 63) && has(new, 1 << 63) { expected = .madeNoExecute }
                    else if has(old, 1 << 7) != has(new, 1 << 7) || has(old, 1 << 3) != has(new, 1 << 3) { expected = .sizeOrTypeChanged }
                }
                XCTAssertEqual(TranslationChange(old: old, new: new), expected,
                               "\(String(old, radix: 16)) -> \(String(new, radix: 16))")
            }
        }
    }

    private func entry(_ bits: [UInt64], _ mask: Int) -> UInt64 {
        bits.enumerated().reduce(0) { mask & (1 << $1.offset) != 0 ? $0 | $1.element : $0 }
    }

    /// The Pagemap's writes, each told once, in order, with its level and
    /// whether it is a leaf; a map into empty entries tells nothing.
    func testThePagemapTellsEachWriteThatTakesSomethingAway() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let root = pagemap.root.address
        let page = Page(startingAt: 0x40_0000_3000)!, huge = HugePage(startingAt: 0x40_4000_0000)!
        _ = try pagemap.map(page, to: Frame(containing: 0x20_0000), flags: [.writable, .user], frames: &memory.harness.allocator).done()
        try pagemap.mapHuge(huge, to: HugeFrame(startingAt: 0x20_0000)!, flags: [.writable], frames: &memory.harness.allocator).ignore()
        try pagemap.reserveLazily(Page(startingAt: 0x40_0000_5000)!, flags: [.user], frames: &memory.harness.allocator)
        XCTAssertEqual(Self.told, [], "new translations need no invalidation")

        pagemap.setFlags([.present, .user], level: 1, of: page.start)!.ignore()
        pagemap.setFlags([.present, .user], level: 1, of: page.start)!.ignore()  // the same again: nothing taken away
        pagemap.setFlags([.present, .writable], level: 2, of: page.start)!.ignore()
        _ = pagemap.replaceEntry(level: 2, of: huge.start, with: 0x40_0000 | 0x83)
        try pagemap.unmap(Page(startingAt: 0x40_0000_5000)!, frames: &memory.harness.allocator).ignore()  // a lazy page: nothing was present
        try pagemap.unmap(page, frames: &memory.harness.allocator).ignore()
        try pagemap.unmapHuge(huge, frames: &memory.harness.allocator).ignore()
        XCTAssertEqual(Self.told, [
            Told(root: root, address: page.start.raw, level: 1, leaf: true, change: .madeReadOnly),
            Told(root: root, address: page.start.raw, level: 2, leaf: false, change: .madeSupervisorOnly),
            Told(root: root, address: huge.start.raw, level: 2, leaf: true, change: .frameChanged),
            Told(root: root, address: page.start.raw, level: 1, leaf: true, change: .unmapped),
            Told(root: root, address: huge.start.raw, level: 2, leaf: true, change: .unmapped),
        ])

        Self.told = []
        let other = memory.makePagemap()
        other.shareTopLevelEntry(255, from: pagemap)
        XCTAssertEqual(Self.told, [], "sharing a table adds a translation")
        _ = try pagemap.map(Page(startingAt: 0x7FFF_8000_0000)!, to: Frame(containing: 0x20_0000), flags: [],
                            frames: &memory.harness.allocator).done()
        other.shareTopLevelEntry(255, from: pagemap)
        other.unshareTopLevelEntry(255)
        XCTAssertEqual(Self.told, [Told(root: other.root.address, address: 255 << 39, level: 4, leaf: false, change: .unmapped)])
    }
}
