@testable import KVMHost
import XCTest

/// The host's walks of guest page tables cost bounded work and memory,
/// whatever the guest wrote there, and end in a typed error.
final class AddressSpaceMapBoundsTests: XCTestCase {
    let present: UInt64 = 0x7  // present, writable, user

    /// A PML4 at `root` whose every entry points back at itself: 512^4
    /// leaves if walked naively.
    func testARootThatPointsAtItselfStopsAtTheTableLimit() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let root: UInt64 = 0x10000
        for index in 0..<512 { try memory.store(root | present, at: root + UInt64(index * 8)) }
        // Every leaf is the root page again, at a new address: one region
        // each, so the region limit comes first (after 515 tables).
        let started = ContinuousClock.now
        XCTAssertThrowsError(try AddressSpaceMap(memory: memory, cr3: root)) {
            XCTAssertEqual($0 as? AddressSpaceMapError, .tooManyRegions(limit: AddressSpaceMap.Limits.standard.regions, cr3: root))
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertLessThan(elapsed, .seconds(10), "bounded work")
        print("self-referencing PML4: stopped at \(AddressSpaceMap.Limits.standard.regions) regions in \(elapsed)")
        // With room for the regions, the table limit stops it.
        XCTAssertThrowsError(try AddressSpaceMap(memory: memory, cr3: root, limits: .init(tables: 300, regions: 1 << 20))) {
            XCTAssertEqual($0 as? AddressSpaceMapError, .tooManyTables(limit: 300, cr3: root))
        }
    }

    /// Leaves that alternate their access bits make one region each: the
    /// region limit holds.
    func testRegionsStopAtTheRegionLimit() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let (pml4, pdpt, pd, pt): (UInt64, UInt64, UInt64, UInt64) = (0x10000, 0x11000, 0x12000, 0x13000)
        try memory.store(pdpt | present, at: pml4)
        try memory.store(pd | present, at: pdpt)
        for index in 0..<512 { try memory.store(pt | present, at: pd + UInt64(index * 8)) }
        for index in 0..<512 { try memory.store(UInt64(index) << 12 | (index % 2 == 0 ? 0x7 : 0x5), at: pt + UInt64(index * 8)) }
        let map = try AddressSpaceMap(memory: memory, cr3: pml4, limits: .init(tables: 1000, regions: 512 * 512))
        XCTAssertEqual(map.regions.count, 512 * 512)
        XCTAssertThrowsError(try AddressSpaceMap(memory: memory, cr3: pml4, limits: .init(tables: 1000, regions: 1000))) {
            XCTAssertEqual($0 as? AddressSpaceMapError, .tooManyRegions(limit: 1000, cr3: pml4))
        }
    }

    func testATableOutsideMemoryIsATypedError() throws {
        let memory = try GuestMemory(size: 1 << 20)
        try memory.store(0x7FFF_F000 | present, at: 0x10000)
        XCTAssertThrowsError(try AddressSpaceMap(memory: memory, cr3: 0x10000)) {
            XCTAssertEqual($0 as? AddressSpaceMapError, .tableOutsideMemory(level: 3, table: 0x7FFF_F000, memorySize: 1 << 20))
        }
        XCTAssertThrowsError(try AddressSpaceMap(memory: memory, cr3: 0xFFFF_F000)) {
            XCTAssertEqual($0 as? AddressSpaceMapError, .tableOutsideMemory(level: 4, table: 0xFFFF_F000, memorySize: 1 << 20))
        }
    }

    /// One address's walk reads at most four entries, whatever the tables hold.
    func testOneWalkReadsAtMostFourEntries() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let root: UInt64 = 0x10000
        for index in 0..<512 { try memory.store(root | present, at: root + UInt64(index * 8)) }
        let walk = try PageWalker(memory: memory).walk(cr3: root, virtual: 0x1234_5678_9000)
        XCTAssertEqual(walk.steps.count, 4)
        XCTAssertEqual(walk.outcome, .mapped(physical: root, pageSize: 4096, access: .init(writable: true, user: true, executable: true)))
    }
}
