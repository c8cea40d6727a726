import MemoryManager
import XCTest

final class MemorySpaceTests: XCTestCase {
    let base: UInt64 = 0x0000_0100_0000_0000

    private func reserve(_ space: inout MemorySpace, _ pages: UInt64, _ backing: Backing = .lazy,
                         _ memory: SimulatedPhysicalMemory, pagemap: inout Pagemap) throws -> UInt64 {
        try space.reserve(pages: pages, backing: backing, flags: [.writable, .noExecute], pagemap: &pagemap,
                          frames: &memory.harness.allocator, zero: { _ in }, invalidate: { _ in })
    }

    /// makeReadOnly drops write from every backed page of the reservation,
    /// each passed to `invalidate` once, in order, and from its flags, so a
    /// lazy page is decided read-only; frames stay where they were; an
    /// address that starts no reservation is refused.
    func testMakeReadOnlyDowngradesEveryBackedPageAndTheRest() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        var space = MemorySpace(base: base, limit: base + MemorySpace.regionSize)
        let eager = try reserve(&space, 3, .eager, memory, pagemap: &pagemap)
        let lazy = try reserve(&space, 4, .lazy, memory, pagemap: &pagemap)
        let before = (0..<3 as Range<UInt64>).map { pagemap.translate(VirtualAddress(eager + $0 * 4096)!)?.physical }
        var invalidated: [UInt64] = []
        try space.makeReadOnly(eager, pagemap: &pagemap) { invalidated.append($0) }
        XCTAssertEqual(invalidated, [eager, eager + 4096, eager + 2 * 4096])
        for page in 0..<3 as Range<UInt64> {
            let translation = try XCTUnwrap(pagemap.translate(VirtualAddress(eager + page * 4096)!))
            XCTAssertEqual(translation.flags, [.present, .noExecute], "page \(page)")
            XCTAssertEqual(translation.physical, before[Int(page)], "page \(page)")
        }
        XCTAssertEqual(space.reservation(containing: eager)?.flags, [.noExecute])
        invalidated = []
        try space.makeReadOnly(lazy, pagemap: &pagemap) { invalidated.append($0) }
        XCTAssertEqual(invalidated, [], "nothing backed: nothing to invalidate")
        XCTAssertEqual(PageTrap.decide(address: lazy + 5, errorCode: PageFaultError.user | PageFaultError.write, space: space, userLimit: base + MemorySpace.regionSize),
                       .faultProcess(.writeToReadOnly))
        XCTAssertThrowsError(try space.makeReadOnly(eager + 4096, pagemap: &pagemap) { _ in }) {
            XCTAssertEqual($0 as? MemorySpaceError, .notReserved(address: eager + 4096))
        }
    }

    func testHighWaterMarkHandsOutConsecutiveRanges() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        var space = MemorySpace(base: base, limit: base + MemorySpace.regionSize)
        let first = try reserve(&space, 3, .lazy, memory, pagemap: &pagemap)
        let second = try reserve(&space, 5, .lazy, memory, pagemap: &pagemap)
        XCTAssertEqual(first, base)
        XCTAssertEqual(second, base + 3 * 4096)
        XCTAssertEqual(space.highWaterMark, base + 8 * 4096)
        XCTAssertEqual(space.reservation(containing: base + 2 * 4096 + 5)?.start, first)
        XCTAssertEqual(space.reservation(containing: second + 4 * 4096)?.pageCount, 5)
        XCTAssertNil(space.reservation(containing: base + 8 * 4096))
        XCTAssertNil(pagemap.translate(VirtualAddress(first)!), "lazy: nothing mapped")
    }

    func testEagerBackingMapsEveryPageAndFreeGivesEverythingBack() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        let freeAtStart = memory.harness.allocator.freeFrames
        var space = MemorySpace(base: base, limit: base + MemorySpace.regionSize)
        var zeroed = 0
        let start = try space.reserve(pages: 600, backing: .eager, flags: [.writable, .noExecute], pagemap: &pagemap,
                                      frames: &memory.harness.allocator, zero: { _ in zeroed += 1 }, invalidate: { _ in })
        XCTAssertEqual(zeroed, 0, "fresh frames are known zero")
        var physical = Set<UInt64>()
        for page in 0..<600 as Range<UInt64> {
            let translation = try XCTUnwrap(pagemap.translate(VirtualAddress(start + page * 4096)!))
            XCTAssertEqual(translation.flags, [.present, .writable, .noExecute])
            physical.insert(translation.physical)
        }
        XCTAssertEqual(physical.count, 600)
        var flushed: [UInt64] = []
        try space.free(start, pagemap: &pagemap, frames: &memory.harness.allocator, invalidate: { flushed.append($0) })
        XCTAssertEqual(flushed.count, 600)
        XCTAssertNil(pagemap.translate(VirtualAddress(start)!))
        XCTAssertEqual(memory.harness.allocator.freeFrames, freeAtStart, "frames and tables are all back")
        XCTAssertEqual(space.highWaterMark, base, "freeing the top lowers the mark")
        XCTAssertThrowsError(try space.free(start, pagemap: &pagemap, frames: &memory.harness.allocator, invalidate: { _ in })) {
            XCTAssertEqual($0 as? MemorySpaceError, .notReserved(address: start))
        }
    }

    func testExhaustionFallsBackToFreedLowerAddresses() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 4)
        var pagemap = memory.makePagemap()
        var space = MemorySpace(base: base, limit: base + 64 * 4096)
        var starts: [UInt64] = []
        for _ in 0..<8 { starts.append(try reserve(&space, 8, .lazy, memory, pagemap: &pagemap)) }
        XCTAssertEqual(space.highWaterMark, space.limit)
        XCTAssertThrowsError(try reserve(&space, 1, .lazy, memory, pagemap: &pagemap)) {
            XCTAssertEqual($0 as? MemorySpaceError, .outOfAddressSpace(pages: 1))
        }
        try space.free(starts[2], pagemap: &pagemap, frames: &memory.harness.allocator, invalidate: { _ in })
        try space.free(starts[5], pagemap: &pagemap, frames: &memory.harness.allocator, invalidate: { _ in })
        XCTAssertThrowsError(try reserve(&space, 9, .lazy, memory, pagemap: &pagemap), "no gap of 9 pages") {
            XCTAssertEqual($0 as? MemorySpaceError, .outOfAddressSpace(pages: 9))
        }
        XCTAssertEqual(try reserve(&space, 5, .eager, memory, pagemap: &pagemap), starts[2])
        XCTAssertEqual(try reserve(&space, 3, .lazy, memory, pagemap: &pagemap), starts[2] + 5 * 4096)
        XCTAssertEqual(try reserve(&space, 8, .lazy, memory, pagemap: &pagemap), starts[5])
        XCTAssertEqual(space.fallbackCount, 3)
        XCTAssertThrowsError(try reserve(&space, 1, .lazy, memory, pagemap: &pagemap)) {
            XCTAssertEqual($0 as? MemorySpaceError, .outOfAddressSpace(pages: 1))
        }
        // Lazy reservations map nothing, yet their addresses are never handed out twice.
        let all = space.reservations
        for (index, reservation) in all.enumerated() where index > 0 {
            XCTAssertGreaterThanOrEqual(reservation.start, all[index - 1].end)
        }
    }

    func testImpossibleSizesAreRefused() throws {
        let memory = SimulatedPhysicalMemory(megabytes: 1)
        var pagemap = memory.makePagemap()
        var space = MemorySpace(base: base, limit: base + 16 * 4096)
        XCTAssertThrowsError(try reserve(&space, 0, .lazy, memory, pagemap: &pagemap)) {
            XCTAssertEqual($0 as? MemorySpaceError, .invalidSize(pages: 0))
        }
        XCTAssertThrowsError(try reserve(&space, 17, .lazy, memory, pagemap: &pagemap)) {
            XCTAssertEqual($0 as? MemorySpaceError, .invalidSize(pages: 17))
        }
        // Out of frames while backing eagerly: nothing stays mapped or reserved.
        let free = memory.harness.allocator.freeFrames
        var big = MemorySpace(base: base, limit: base + MemorySpace.regionSize)
        XCTAssertThrowsError(try reserve(&big, free + 10, .eager, memory, pagemap: &pagemap)) {
            XCTAssertEqual($0 as? MemorySpaceError, .outOfFrames)
        }
        XCTAssertEqual(memory.harness.allocator.freeFrames, free)
        XCTAssertEqual(big.reservations, [])
        XCTAssertEqual(big.highWaterMark, base)
    }
}
