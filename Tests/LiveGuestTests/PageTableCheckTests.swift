import GuestImage
import MemoryManager
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The host's page-table check of a live guest (`LiveGuest.checkPageTables`,
/// after every call by default): a healthy kernel holds every invariant
/// after a mixed workload, each rule broken on purpose is named exactly
/// (rule, frame, every entry of each walk, the spaces), and a published
/// table that lies is a typed error, never a crash.
final class PageTableCheckTests: GuestBehaviourTestCase {

    /// Processes, memory spaces, map and unmap calls, access checks, each
    /// followed by the check (on by default); then what the kernel published
    /// agrees with what its calls say, and the check finds nothing.
    func testAHealthyGuestHoldsEveryInvariantAfterAMixedWorkload() throws {
        try onEachBackend { _ in
            let (guest, ready) = try readyGuest()
            XCTAssertTrue(guest.configuration.checkPageTablesAfterCalls, "on by default")
            let user = try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [.user, .writable]))
            _ = try guest.call(MapPage(virtual: 0x4000_1000, frame: .existing(physical: user), flags: [.user]))
            _ = try guest.call(MapPage(virtual: 0x80_0000_0000, frame: .allocate, flags: [.writable, .noExecute]))
            _ = try guest.call(UnmapPage(virtual: 0x4000_1000, freeFrame: false))
            let eager = try guest.call(ReserveSpace(pages: 8, backing: .eager, flags: [.writable]))
            _ = try guest.call(ReserveSpace(pages: 4, backing: .lazy, flags: [.writable]))
            _ = try guest.call(FreeSpace(start: eager))
            // Exits, lazy faults, kills: each process's space published, then gone.
            for program in ["hello", "lazy-touch", "read-kernel", "write-code", "stack-overflow"] { _ = try guest.runProgram(program) }
            _ = try guest.call(RunAccessChecks(first: 0, count: 64))
            let frames = try guest.call(AllocateFrames(count: 3))
            _ = try guest.call(FreeFrame(address: frames[1]))

            let statistics = try guest.call(ReadFrameStatistics())
            let published = try PublishedTable(memory: guest.memory, at: guest.pageTableCheckTable)
            XCTAssertEqual(published.spaces, [.init(index: 0, root: ready.pageTableRoot, kind: .kernel)], "processes and scratch spaces went")
            XCTAssertEqual(published.bitmapPhysical, statistics.bitmapPhysical)
            XCTAssertEqual(published.bitmapFrames, statistics.total)
            XCTAssertEqual(published.directMap, ready.directMapBase..<ready.directMapBase + statistics.total << 12)
            XCTAssertEqual(published.kernelRanges, statistics.reservations.map { $0.start..<$0.end })
            XCTAssertEqual(published.sharedRanges, [])

            let report = try guest.checkPageTables()
            XCTAssertEqual(report.violations, [], "\(report)")
            XCTAssertEqual(report.spaces, 1)
            XCTAssertEqual(UInt64(report.tables), statistics.kernelPageTables)
            XCTAssertGreaterThan(report.mappings, 0)
            XCTAssertEqual(guest.physicalAddressBits, Int(try guest.call(ReadCPU()).physicalAddressBits),
                           "the host's MAXPHYADDR is the one the guest's CPUID gives")
            XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
        }
    }

    /// Damage made by hand in guest memory, then any call: the check after
    /// it fails the call with exactly `expected`.
    private func assertNextCallFails(_ guest: LiveGuest, with expected: PageTableViolation, line: UInt = #line) {
        do {
            _ = try guest.call(Echo([1]))
            XCTFail("the call after the damage succeeded", line: line)
        } catch let failure as GuestFailure {
            XCTAssertEqual(failure.kind, .pageTableViolation(expected), "\(failure)", line: line)
            // The report: the rule on one line, then each walk, unescaped.
            XCTAssertEqual(failure.summary, expected.summary, line: line)
            XCTAssertTrue(failure.description.contains("\n" + expected.mappings.map(\.description).joined(separator: "\n") + "\n"),
                          failure.description, line: line)
        } catch {
            XCTFail("not a guest failure: \(error)", line: line)
        }
    }

    /// Rule 1: a frame the bitmap shows free, mapped.
    func testAFreeFrameMappedIsNamed() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let space = try HandMadeSpace(guest: guest)
            let frame = try guest.call(AllocateFrames(count: 1))[0]
            _ = try guest.call(FreeFrame(address: frame))
            try space.setLeaf(page: 3, frame | PageTableFixtures.present)
            assertNextCallFails(guest, with: .init(rule: .freeFrameMapped, frame: frame, mappings: [try space.mapping(page: 3)]))
        }
    }

    /// Rule 2: two spaces map one frame writable; declared shared, it passes.
    func testAFrameWritableInTwoSpacesIsNamedUnlessDeclaredShared() throws {
        try onEachBackend { _ in
            let (guest, ready) = try readyGuest()
            let frame = try guest.call(MapPage(virtual: 0x4000_5000, frame: .allocate, flags: [.writable]))
            let space = try HandMadeSpace(guest: guest)
            // The kernel half shared, as a process has it: its writable pages count once.
            try space.shareKernelHalf(kernelRoot: ready.pageTableRoot)
            XCTAssertEqual(try guest.checkPageTables().violations, [])
            try space.setLeaf(page: 7, frame | PageTableFixtures.present | PageTableFixtures.writable)
            let kernel = PageTableViolation.Mapping(space: .init(index: 0, root: ready.pageTableRoot, kind: .kernel), virtual: 0x4000_5000,
                                                    steps: try PageTableFixtures.steps(guest.memory, root: ready.pageTableRoot, virtual: 0x4000_5000))
            XCTAssertEqual(kernel.steps.count, 4)
            assertNextCallFails(guest, with: .init(rule: .writableInTwoSpaces, frame: frame, mappings: [kernel, try space.mapping(page: 7)]))

            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.sharedRangeWord(0), frame)
            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.sharedRangeWord(0) + 1, frame + 4096)
            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.Field.sharedRangeCount.rawValue, 1)
            XCTAssertEqual(try guest.checkPageTables().violations, [], "declared shared")
            // Read-only in the second space, no declaration needed either.
            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.Field.sharedRangeCount.rawValue, 0)
            XCTAssertEqual(try guest.checkPageTables().violations.map(\.rule), [.writableInTwoSpaces])
            try space.setLeaf(page: 7, frame | PageTableFixtures.present)
            XCTAssertEqual(try guest.checkPageTables().violations, [])
        }
    }

    /// Rule 3: a user-accessible mapping of the kernel image's first frame.
    func testAUserMappingOfAKernelFrameIsNamed() throws {
        try onEachBackend { _ in
            let (guest, ready) = try readyGuest()
            let space = try HandMadeSpace(guest: guest)
            try space.setLeaf(page: 1, ready.kernelPhysicalStart | PageTableFixtures.present | PageTableFixtures.user)
            assertNextCallFails(guest, with: .init(rule: .userMapsKernelFrame, frame: ready.kernelPhysicalStart,
                                                   mappings: [try space.mapping(page: 1)]))
        }
    }

    /// Rule 4: a page table mapped as a page (supervisor, read-only: no other rule).
    func testAPageTableMappedAsAPageIsNamed() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let space = try HandMadeSpace(guest: guest)
            try space.setLeaf(page: 2, space.pd | PageTableFixtures.present)
            assertNextCallFails(guest, with: .init(rule: .pageTableMappedAsPage, frame: space.pd, mappings: [try space.mapping(page: 2)]))
        }
    }

    /// Rule 4: reserved bits, bit 51 in a 4 KiB leaf (above MAXPHYADDR on
    /// both backends), then bit 13 of a 2 MiB leaf (below its alignment).
    func testReservedBitsInAPresentEntryAreNamed() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let space = try HandMadeSpace(guest: guest)
            let frame = try guest.call(AllocateFrames(count: 1))[0]
            let huge = try XCTUnwrap(try guest.call(AllocateContiguousFrames(count: 512, alignment: 512)))
            try space.setLeaf(page: 5, frame | 1 << 51 | PageTableFixtures.present)
            assertNextCallFails(guest, with: .init(rule: .reservedBitsSet, frame: space.pt, reservedBits: 1 << 51,
                                                   mappings: [try space.mapping(page: 5)]))

            try space.setPDEntry(huge | 1 << 13 | PageTableFixtures.pageSize | PageTableFixtures.present)
            let mapping = try space.mapping(page: 0)
            XCTAssertEqual(mapping.steps.count, 3, "the walk ends at the PD")
            XCTAssertEqual(try guest.checkPageTables().violations,
                           [.init(rule: .reservedBitsSet, frame: space.pd, reservedBits: 1 << 13, mappings: [mapping])])
        }
    }

    /// Bit 63 is the no-execute bit where the CPU has NX (the kernel turns
    /// EFER.NXE on), a reserved bit where it has none (`--cpu -nx`).
    func testBit63IsReservedOnlyWithoutNX() throws {
        try onEachBackend { _ in
            for cpu in [CPUSelection(), CPUSelection(disabled: [.nx])] {
                var configuration = LiveGuest.Configuration()
                configuration.cpu = cpu
                let (guest, _) = try readyGuest(configuration: configuration)
                let space = try HandMadeSpace(guest: guest)
                let frame = try guest.call(AllocateFrames(count: 1))[0]
                try space.setLeaf(page: 9, frame | 1 << 63 | PageTableFixtures.present)
                let expected: [PageTableViolation] = cpu.isDefault ? [] : [
                    .init(rule: .reservedBitsSet, frame: space.pt, reservedBits: 1 << 63, mappings: [try space.mapping(page: 9)]),
                ]
                XCTAssertEqual(try guest.checkPageTables().violations, expected, "\(cpu)")
            }
        }
    }

    /// What the kernel published, made to lie: each a typed error from the
    /// check after the next call, naming the word.
    func testAPublishedTableThatLiesIsATypedError() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.Field.spaceCount.rawValue, 17)
            do {
                _ = try guest.call(Echo([1]))
                XCTFail("the call after the damage succeeded")
            } catch let failure as GuestFailure {
                XCTAssertEqual(failure.kind, .pageTablesUnchecked(.countTooLarge(field: .spaceCount, count: 17, limit: 16)))
            }
            try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.Field.spaceCount.rawValue, 1)
            // The kernel's root made to point at itself: a loop of tables.
            let root = try PublishedTable(memory: guest.memory, at: guest.pageTableCheckTable).spaces[0].root
            try guest.memory.store(root | PageTableFixtures.table, at: root + 8 * 100)
            XCTAssertThrowsError(try guest.checkPageTables()) { error in
                XCTAssertEqual(error as? PageTableCheckError, .tableReachedTwice(table: root, level: 3, firstLevel: 4, space: 0))
            }
            // Pointing past RAM.
            let outside = UInt64(guest.memory.size) + (1 << 30)
            try guest.memory.store(outside | PageTableFixtures.table, at: root + 8 * 100)
            XCTAssertThrowsError(try guest.checkPageTables()) { error in
                XCTAssertEqual(error as? PageTableCheckError, .pageTableOutsideRAM(level: 3, table: outside, space: 0))
            }
        }
    }
}
