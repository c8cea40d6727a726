import MemoryManager
import SeededRandom
import XCTest

final class PagemapTests: XCTestCase {
    func page(_ raw: UInt64) -> Page { Page(startingAt: raw)! }
    func address(_ raw: UInt64) -> VirtualAddress { VirtualAddress(raw)! }
    func hugePage(_ raw: UInt64) -> HugePage { HugePage(startingAt: raw)! }
    func hugeFrame(_ raw: UInt64) -> HugeFrame { HugeFrame(startingAt: raw)! }

    // MARK: - Addresses

    func testCanonicalBoundaries() {
        XCTAssertNotNil(VirtualAddress(0x0000_7FFF_FFFF_F000))
        XCTAssertNotNil(VirtualAddress(0x0000_7FFF_FFFF_FFFF))
        XCTAssertNil(VirtualAddress(0x0000_8000_0000_0000))
        XCTAssertNil(VirtualAddress(0xFFFF_7FFF_FFFF_FFFF))
        XCTAssertNotNil(VirtualAddress(0xFFFF_8000_0000_0000))
        XCTAssertNotNil(VirtualAddress(0xFFFF_FFFF_FFFF_FFFF))
        XCTAssertNil(Page(startingAt: 0x1001))
        XCTAssertNil(Page(startingAt: 0x0000_8000_0000_0000))
    }

    func testIndexMaths() {
        let kernel = address(0x0000_7FFF_8010_0123)
        XCTAssertEqual([4, 3, 2, 1].map { kernel.index(level: $0) }, [255, 510, 0, 256])
        XCTAssertEqual(kernel.pageOffset, 0x123)
        let top = address(0x0000_7FFF_FFFF_F000)
        XCTAssertEqual([4, 3, 2, 1].map { top.index(level: $0) }, [255, 511, 511, 511])
        XCTAssertEqual([4, 3, 2, 1].map { address(0xFFFF_8000_0000_0000).index(level: $0) }, [256, 0, 0, 0])
        XCTAssertEqual(page(0x5000).start.raw, 0x5000)
        XCTAssertEqual(address(0x5FFF).page, page(0x5000))
    }

    func testEntryFlagsAndAddress() {
        let entry = PageTableEntry(address: 0x1234_5000, flags: [.present, .writable, .noExecute])
        XCTAssertEqual(entry.address, 0x1234_5000)
        XCTAssertEqual(entry.flags, [.present, .writable, .noExecute])
        XCTAssertTrue(entry.isPresent)
        XCTAssertFalse(entry.isHuge)
        XCTAssertEqual(entry.raw, 0x8000_0000_1234_5003)
    }

    // MARK: - Map, translate, unmap

    func testMapTranslateUnmap() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let freeBefore = memory.harness.allocator.freeFrames
        let target = page(0x0000_1234_5678_9000)
        XCTAssertEqual(pagemap.locatePage(target.start), .notPresent(level: 4, lazy: false))
        XCTAssertEqual(try pagemap.map(target, to: Frame(number: 0x300), flags: [.writable, .noExecute], frames: &memory.harness.allocator).done(),
                       target.start.raw)
        XCTAssertEqual(pagemap.tablesCreated, 3)
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeBefore - 3)
        let translation = try XCTUnwrap(pagemap.translate(address(0x0000_1234_5678_9ABC)))
        XCTAssertEqual(translation.physical, 0x300ABC)
        XCTAssertEqual(translation.flags, [.present, .writable, .noExecute])
        XCTAssertEqual(translation.pageSize, 4096)
        XCTAssertNil(pagemap.translate(address(0x0000_1234_5678_A000)))
        XCTAssertEqual(pagemap.locatePage(address(0x0000_1234_5678_A000)), .notPresent(level: 1, lazy: false))
        XCTAssertEqual(pagemap.locatePage(address(0x0000_1234_4000_0000)), .notPresent(level: 2, lazy: false))

        let flush = try pagemap.unmap(target, frames: &memory.harness.allocator)
        XCTAssertEqual(flush.unmappedFrame, Frame(number: 0x300))
        let flushed = flush.done()
        XCTAssertEqual(flushed, target.start.raw)
        XCTAssertEqual(pagemap.tablesFreed, 3, "the PT, PD and PDPT emptied and went back")
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeBefore)
        XCTAssertEqual(pagemap.locatePage(target.start), .notPresent(level: 4, lazy: false))
    }

    func testLocatePageCreatesTablesOnlyWhenAsked() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let target = address(0x0000_0040_1234_5000)
        XCTAssertEqual(pagemap.locatePage(target), .notPresent(level: 4, lazy: false))
        XCTAssertEqual(pagemap.tablesCreated, 0)
        let entry = try pagemap.locatePage(target, creatingTablesGranting: [.user], frames: &memory.harness.allocator)
        XCTAssertTrue(entry.isEmpty)
        XCTAssertEqual(pagemap.tablesCreated, 3)
        XCTAssertEqual(pagemap.locatePage(target), .notPresent(level: 1, lazy: false), "now only the leaf is missing")
        _ = try pagemap.map(target.page, to: Frame(number: 9), flags: [.user], frames: &memory.harness.allocator).done()
        XCTAssertEqual(try pagemap.locatePage(target, creatingTablesGranting: [], frames: &memory.harness.allocator).frame,
                       Frame(number: 9))
        XCTAssertEqual(pagemap.tablesCreated, 3)
    }

    func testStaleCountsAreTakenAfreshBeforeUse() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let freeAtStart = memory.harness.allocator.freeFrames
        _ = try pagemap.map(page(0x40_0000), to: Frame(number: 0x300), flags: [.writable], frames: &memory.harness.allocator).done()
        XCTAssertTrue(pagemap.markCountStale(for: address(0x40_0000)))
        XCTAssertFalse(pagemap.markCountStale(for: address(0x8000_0000)), "no table there")
        // Entries filled behind the Pagemap's back, as the fast path does.
        let leafTable = try XCTUnwrap(pagemap.entries(on: address(0x40_0000)).dropLast().last).address
        let leaves = UnsafeMutablePointer<UInt64>(bitPattern: memory.directMap + UInt(leafTable))!
        leaves[1] = PageTableEntry(address: 0x301000, flags: [.present, .writable]).raw
        leaves[2] = PageTableEntry(address: 0x302000, flags: [.present, .writable]).raw
        for index: UInt64 in 0..<3 {
            let flush = try pagemap.unmap(page(0x40_0000 + index * 4096), frames: &memory.harness.allocator)
            XCTAssertEqual(flush.unmappedFrame, Frame(number: 0x300 + index))
            flush.ignore()
        }
        XCTAssertEqual(pagemap.tablesFreed, 3, "freed only once all three were gone")
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeAtStart)
    }

    func testErrorsCarryTheirContext() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        _ = try pagemap.map(page(0x4000), to: Frame(number: 0x200), flags: [.writable], frames: &memory.harness.allocator).done()
        XCTAssertThrowsError(try pagemap.map(page(0x4000), to: Frame(number: 0x201), flags: [], frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? MapError, .alreadyMapped(page: 0x4000, frame: Frame(number: 0x200)))
        }
        XCTAssertThrowsError(try pagemap.unmap(page(0x5000), frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? UnmapError, .notMapped(page: 0x5000, level: 1))
        }
        XCTAssertThrowsError(try pagemap.unmap(page(0x8000_0000), frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? UnmapError, .notMapped(page: 0x8000_0000, level: 3))
        }
        _ = try pagemap.mapHuge(hugePage(0x4000_0000), to: hugeFrame(0x20_0000), flags: [.writable], frames: &memory.harness.allocator).done()
        XCTAssertThrowsError(try pagemap.map(page(0x4000_1000), to: Frame(number: 1), flags: [], frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? MapError, .parentIsHugePage(level: 2))
        }
        XCTAssertThrowsError(try pagemap.unmap(page(0x4000_1000), frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? UnmapError, .parentIsHugePage(level: 2))
        }
        XCTAssertThrowsError(try pagemap.locatePage(address(0x4000_1000), creatingTablesGranting: [], frames: &memory.harness.allocator)) {
            XCTAssertEqual($0 as? TableError, .parentIsHugePage(level: 2))
        }
        XCTAssertThrowsError(try pagemap.mapHuge(hugePage(0x4000_0000), to: hugeFrame(0x40_0000), flags: [], frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? MapError, .alreadyMapped(page: 0x4000_0000, frame: Frame(number: 0x200)))
        }
        // Alignment is the types': no huge page or huge frame off 2 MiB exists to be refused.
        XCTAssertNil(HugePage(startingAt: 0x4010_0000))
        XCTAssertNil(HugePage(startingAt: 0x0000_8000_0000_0000), "nor off the canonical halves")
        XCTAssertNil(HugeFrame(startingAt: 0x1000))
        XCTAssertEqual(HugeFrame(startingAt: 0x40_0000)?.first, Frame(number: 0x400))
    }

    func testFrameAllocationFailureNamesTheLevel() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 1)
        var pagemap = memory.makePagemap()
        while memory.harness.allocator.freeFrames > 2 { _ = memory.harness.allocator.allocate() }
        XCTAssertThrowsError(try pagemap.map(page(0x1000), to: Frame(number: 5), flags: [], frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? MapError, .frameAllocationFailed(level: 1))
        }
        // The creating walk names its level too: one frame left makes the PDPT, not the PD.
        let scarce = SimulatedPhysicalMemory(megabytes: 1)
        var tables = scarce.makePagemap()
        while scarce.harness.allocator.freeFrames > 1 { _ = scarce.harness.allocator.allocate() }
        XCTAssertThrowsError(try tables.locatePage(address(0x1000), creatingTablesGranting: [], frames: &scarce.harness.allocator)) {
            XCTAssertEqual($0 as? TableError, .frameAllocationFailed(level: 2))
        }
    }

    func testParentsGrantWhatTheLeafGrants() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        _ = try pagemap.map(page(0x1000), to: Frame(number: 0x100), flags: [.noExecute], frames: &memory.harness.allocator).done()
        XCTAssertEqual(pagemap.translate(address(0x1000))?.flags, [.present, .noExecute])
        // A user, writable, executable page under the same tables widens every parent...
        _ = try pagemap.map(page(0x2000), to: Frame(number: 0x101), flags: [.user, .writable], frames: &memory.harness.allocator).done()
        XCTAssertEqual(pagemap.translate(address(0x2000))?.flags, [.present, .user, .writable])
        // ...and does not widen its neighbour's leaf.
        XCTAssertEqual(pagemap.translate(address(0x1000))?.flags, [.present, .noExecute])
    }

    func testHugePagesTranslateWith21BitOffsets() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        _ = try pagemap.mapHuge(hugePage(0x0000_7F80_0020_0000), to: hugeFrame(0x4000_0000), flags: [.writable, .noExecute],
                                frames: &memory.harness.allocator).done()
        let translation = try XCTUnwrap(pagemap.translate(address(0x0000_7F80_003F_FFFF)))
        XCTAssertEqual(translation.physical, 0x401F_FFFF)
        XCTAssertEqual(translation.pageSize, 2 << 20)
        XCTAssertEqual(pagemap.locatePage(address(0x0000_7F80_0030_0000)),
                       .present(entry: PageTableEntry(address: 0x4000_0000, flags: [.present, .writable, .noExecute, .huge]), level: 2))
    }

    func testLazyReservationIsNotPresentButKnown() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        try pagemap.reserveLazily(page(0x7000), flags: [.user, .writable], frames: &memory.harness.allocator)
        XCTAssertEqual(pagemap.locatePage(address(0x7000)), .notPresent(level: 1, lazy: true))
        XCTAssertNil(pagemap.translate(address(0x7000)))
        _ = try pagemap.map(page(0x7000), to: Frame(number: 0x123), flags: [.user, .writable], frames: &memory.harness.allocator).done()
        XCTAssertEqual(pagemap.translate(address(0x7000))?.physical, 0x123000)
        try pagemap.reserveLazily(page(0x8000), flags: [.user], frames: &memory.harness.allocator)
        let lazy = try pagemap.unmap(page(0x8000), frames: &memory.harness.allocator)
        XCTAssertNil(lazy.unmappedFrame, "a lazy page had no frame")
        lazy.ignore()
        let flush = try pagemap.unmap(page(0x7000), frames: &memory.harness.allocator)
        XCTAssertEqual(flush.unmappedFrame, Frame(number: 0x123))
        flush.ignore()
        XCTAssertEqual(pagemap.tablesFreed, 3)
    }

    func testMapRangeAcrossTableBoundaries() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 8)
        var pagemap = memory.makePagemap()
        let start: UInt64 = 0x0000_7FFF_801F_4000  // index 500 of its page table
        var flushed: [UInt64] = []
        try pagemap.mapRange(page(start), to: Frame(number: 0x400), count: 600, flags: [.noExecute], frames: &memory.harness.allocator)
            .flush { flushed.append($0) }
        XCTAssertEqual(flushed, (0..<600).map { start + $0 * 4096 }, "the flush names every page the range mapped")
        for index: UInt64 in [0, 11, 12, 599] {
            XCTAssertEqual(pagemap.translate(address(start + index * 4096 + 7))?.physical, 0x400000 + index * 4096 + 7)
        }
        XCTAssertNil(pagemap.translate(address(start + 600 * 4096)))
        XCTAssertNil(pagemap.translate(address(start - 4096)))
        for index: UInt64 in 0..<600 { _ = try pagemap.unmap(page(start + index * 4096), frames: &memory.harness.allocator).done() }
        XCTAssertEqual(pagemap.tablesFreed, pagemap.tablesCreated)
    }

    /// A range that runs into a mapped page stops there, and the pages it
    /// did map are counted: unmapping everything frees every table.
    func testMapRangeStoppedByAMappedPageKeepsCountsRight() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 8)
        var pagemap = memory.makePagemap()
        let start: UInt64 = 0x0000_0040_0000_0000
        _ = try pagemap.map(page(start + 10 * 4096), to: Frame(number: 0x300), flags: [.writable], frames: &memory.harness.allocator).done()
        XCTAssertThrowsError(try pagemap.mapRange(page(start), to: Frame(number: 0x400), count: 20, flags: [],
                                                  frames: &memory.harness.allocator).ignore()) {
            XCTAssertEqual($0 as? MapError, .alreadyMapped(page: start + 10 * 4096, frame: Frame(number: 0x300)))
        }
        XCTAssertEqual(pagemap.translate(address(start + 9 * 4096))?.physical, 0x409000)
        XCTAssertNil(pagemap.translate(address(start + 11 * 4096)))
        for index: UInt64 in 0...10 { _ = try pagemap.unmap(page(start + index * 4096), frames: &memory.harness.allocator).done() }
        XCTAssertEqual(pagemap.tablesFreed, pagemap.tablesCreated, "the page table's count included the ten pages")
    }

    // MARK: - Model

    /// Random map, unmap and translate over clustered addresses, against a
    /// dictionary of what should be mapped.
    func testRandomOperationsAgreeWithADictionaryModel() throws {
        var random = SplitMix64(state: 7)
        let memory = SimulatedPhysicalMemory(megabytes: 16)
        var pagemap = memory.makePagemap()
        let freeAtStart = memory.harness.allocator.freeFrames
        let bases: [UInt64] = [0x0, 0x0000_0040_0000_0000, 0x0000_7FFF_8000_0000, 0x0000_7F80_0000_0000, 0x0000_0000_3FE0_0000]
        var model: [UInt64: (frame: UInt64, flags: PageTableFlags)] = [:]
        let flagChoices: [PageTableFlags] = [[], [.writable], [.user], [.user, .writable], [.noExecute], [.writable, .noExecute]]
        for step in 0..<4000 {
            let base = bases[Int.random(in: 0..<bases.count, using: &random)]
            let raw = base + UInt64.random(in: 0..<2048, using: &random) * 4096
            let target = page(raw)
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                let frame = UInt64.random(in: 1..<0x1000, using: &random)
                let flags = flagChoices[Int.random(in: 0..<flagChoices.count, using: &random)]
                do {
                    _ = try pagemap.map(target, to: Frame(number: frame), flags: flags, frames: &memory.harness.allocator).done()
                    XCTAssertNil(model[raw], "step \(step): mapped over \(raw)")
                    model[raw] = (frame, flags)
                } catch {
                    XCTAssertEqual(error, .alreadyMapped(page: raw, frame: Frame(number: model[raw]?.frame ?? ~0)), "step \(step)")
                }
            case 5..<8:
                do {
                    let flush = try pagemap.unmap(target, frames: &memory.harness.allocator)
                    XCTAssertEqual(flush.unmappedFrame?.number, model[raw]?.frame, "step \(step)")
                    let flushed = flush.done()
                    XCTAssertEqual(flushed, raw)
                    model[raw] = nil
                } catch {
                    XCTAssertNil(model[raw], "step \(step): \(error)")
                }
            default:
                let offset = UInt64.random(in: 0..<4096, using: &random)
                let translation = pagemap.translate(address(raw + offset))
                if let expected = model[raw] {
                    XCTAssertEqual(translation?.physical, expected.frame << 12 + offset, "step \(step)")
                    XCTAssertEqual(translation?.flags, expected.flags.union(.present), "step \(step)")
                } else {
                    XCTAssertNil(translation, "step \(step)")
                }
            }
        }
        for (raw, entry) in model {
            XCTAssertEqual(pagemap.translate(address(raw))?.physical, entry.frame << 12)
            _ = try pagemap.unmap(page(raw), frames: &memory.harness.allocator).done()
        }
        XCTAssertEqual(pagemap.tablesFreed, pagemap.tablesCreated, "every table went back once empty")
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeAtStart)
    }

    /// Every operation that changes entries hands back the flush for what it
    /// changed: 2 MiB apart for huge ranges, the address for setFlags.
    func testRangesAndFlagChangesNameWhatToFlush() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 8)
        var pagemap = memory.makePagemap()
        let start: UInt64 = 0x0000_0040_0000_0000
        var flushed: [UInt64] = []
        try pagemap.mapHugeRange(hugePage(start), to: hugeFrame(0), count: 3, flags: [.writable], frames: &memory.harness.allocator)
            .flush { flushed.append($0) }
        XCTAssertEqual(flushed, [start, start + (2 << 20), start + (4 << 20)])
        XCTAssertEqual(pagemap.translate(address(start + (4 << 20) + 5))?.physical, (4 << 20) + 5)

        flushed = []
        guard let changed = pagemap.setFlags([.present, .huge], level: 2, of: address(start + (2 << 20) + 0x1234)) else {
            return XCTFail("the PD entry is reachable")
        }
        changed.flush { flushed.append($0) }
        XCTAssertEqual(flushed, [start + (2 << 20) + 0x1000], "the page of the address")
        XCTAssertEqual(pagemap.translate(address(start + (2 << 20)))?.flags.contains(.writable), false)
        // No PT below a huge page: level 1 cannot be reached.
        if let unexpected = pagemap.setFlags([.present], level: 1, of: address(start)) {
            unexpected.ignore()
            XCTFail("a PT entry under a huge page was changed")
        }
        var reloaded = false
        guard let parent = pagemap.setFlags([.present, .writable], level: 3, of: address(start)) else {
            return XCTFail("the PDPT entry is reachable")
        }
        parent.flushAll { reloaded = true }
        XCTAssertTrue(reloaded)
        for index: UInt64 in 0..<3 { _ = try pagemap.unmapHuge(hugePage(start + index * (2 << 20)), frames: &memory.harness.allocator).done() }
        XCTAssertEqual(pagemap.tablesFreed, pagemap.tablesCreated)
    }

    /// 1 GiB pages (a PDPT entry with the huge flag): translated at any
    /// offset, found at level 3, refused below, and unmapped with their PDPT.
    func testGigabytePagesMapTranslateAndUnmap() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 8)
        var pagemap = memory.makePagemap()
        let start: UInt64 = 0x0000_0080_0000_0000
        let freeAtStart = memory.harness.allocator.freeFrames
        var flushed: [UInt64] = []
        try pagemap.mapGigabyteRange(GigabytePage(startingAt: start)!, to: GigabyteFrame(startingAt: 3 << 30)!, count: 2,
                                     flags: [.writable, .noExecute], frames: &memory.harness.allocator)
            .flush { flushed.append($0) }
        XCTAssertEqual(flushed, [start, start + (1 << 30)])
        XCTAssertEqual(pagemap.tablesCreated, 1, "a PDPT, and nothing below it")
        let inside = start + (1 << 30) + 0x1234_5678
        let translation = pagemap.translate(address(inside))
        XCTAssertEqual(translation?.physical, (4 << 30) + 0x1234_5678)
        XCTAssertEqual(translation?.flags, [.present, .writable, .noExecute])
        XCTAssertEqual(translation?.pageSize, 1 << 30)
        guard case .present(let entry, 3) = pagemap.locatePage(address(inside)) else {
            return XCTFail("\(pagemap.locatePage(address(inside)))")
        }
        XCTAssertTrue(entry.isHuge)
        XCTAssertEqual(pagemap.entries(on: address(inside)).count, 2, "the PML4 entry and the 1 GiB leaf")
        XCTAssertThrowsError(try pagemap.map(page(inside & ~0xFFF), to: Frame(number: 5), flags: [], frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? MapError, .parentIsHugePage(level: 3))
        }
        XCTAssertThrowsError(try pagemap.unmap(page(inside & ~0xFFF), frames: &memory.harness.allocator).done()) {
            XCTAssertEqual($0 as? UnmapError, .parentIsHugePage(level: 3))
        }
        XCTAssertThrowsError(try pagemap.mapGigabyteRange(GigabytePage(startingAt: start + (1 << 30))!, to: GigabyteFrame(startingAt: 0)!,
                                                          count: 1, flags: [], frames: &memory.harness.allocator).ignore()) {
            XCTAssertEqual($0 as? MapError, .alreadyMapped(page: start + (1 << 30), frame: Frame(containing: 4 << 30)))
        }
        XCTAssertNil(GigabytePage(startingAt: start + (2 << 20)), "a 1 GiB page starts on a 1 GiB boundary")
        XCTAssertNil(GigabyteFrame(startingAt: 2 << 20))
        let first = try pagemap.unmapGigabyte(GigabytePage(startingAt: start)!, frames: &memory.harness.allocator)
        XCTAssertEqual(first.unmappedFrame, Frame(containing: 3 << 30))
        first.ignore()
        XCTAssertEqual(pagemap.tablesFreed, 0, "the PDPT still maps the second page")
        _ = try pagemap.unmapGigabyte(GigabytePage(startingAt: start + (1 << 30))!, frames: &memory.harness.allocator).done()
        XCTAssertEqual(pagemap.tablesFreed, 1)
        XCTAssertNil(pagemap.translate(address(inside)))
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeAtStart)
    }

    /// Every table the Pagemap built is found, the root too; a mapped page's
    /// frame and an unrelated frame are not tables.
    func testHoldsTableFindsEveryTableAndNothingElse() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 8)
        var pagemap = memory.makePagemap()
        _ = try pagemap.map(page(0x0000_0040_0000_0000), to: Frame(number: 0x300), flags: [], frames: &memory.harness.allocator).done()
        let entries = pagemap.entries(on: address(0x0000_0040_0000_0000))
        XCTAssertEqual(entries.count, 4)
        XCTAssertTrue(pagemap.holdsTable(pagemap.root))
        for entry in entries.dropLast() { XCTAssertTrue(pagemap.holdsTable(entry.frame), "\(entry)") }
        XCTAssertFalse(pagemap.holdsTable(Frame(number: 0x300)), "the mapped page is not a table")
        XCTAssertFalse(pagemap.holdsTable(Frame(number: 0x301)))
        _ = try pagemap.unmap(page(0x0000_0040_0000_0000), frames: &memory.harness.allocator).done()
        for entry in entries.dropLast() { XCTAssertFalse(pagemap.holdsTable(entry.frame), "freed with the page") }
    }
}
