import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The page-table check over guest memory of the test's making: everything
/// the kernel publishes is the guest's, so each lie (a count past its
/// capacity, an address outside RAM, a loop of tables, page tables where
/// data should be) is a typed error naming it, never a crash or an
/// unbounded walk.
final class PageTableCheckBoundsTests: XCTestCase {
    static let ramSize = 16 << 20
    static let tableAddress: UInt64 = 0x10000
    static let bitmap: UInt64 = 0x20000
    /// A PML4, PDPT, PD and PT mapping one user page at 0x4000_0000 to `frame`.
    static let (pml4, pdpt, pd, pt): (UInt64, UInt64, UInt64, UInt64) = (0x30000, 0x31000, 0x32000, 0x33000)
    static let frame: UInt64 = 0x40000

    /// A well-formed table: one space, its tables and frame used in the bitmap.
    private func makeMemory() throws -> GuestMemory {
        let memory = try GuestMemory(size: Self.ramSize)
        let words = PageTableCheckTable.self
        func set(_ field: PageTableCheckTable.Field, _ value: UInt64) throws {
            try memory.store(value, at: Self.tableAddress + UInt64(field.rawValue * 8))
        }
        try set(.magic, words.magic)
        try set(.bitmapPhysical, Self.bitmap)
        try set(.bitmapFrames, UInt64(Self.ramSize >> 12))
        try set(.directMapStart, 0x7F80_0000_0000)
        try set(.directMapEnd, 0x7F80_0000_0000 + UInt64(Self.ramSize))
        try set(.spaceCount, 1)
        try memory.store(Self.pml4, at: Self.tableAddress + UInt64(words.spaceWord(0) * 8))
        try memory.store(PageTableCheckTable.SpaceKind.kernel.rawValue, at: Self.tableAddress + UInt64(words.spaceWord(0) * 8 + 8))
        // Every frame used.
        for word in 0..<(Self.ramSize >> 12) / 64 { try memory.store(UInt64.max, at: Self.bitmap + UInt64(word * 8)) }
        try memory.store(Self.pdpt | PageTableFixtures.table, at: Self.pml4)
        try memory.store(Self.pd | PageTableFixtures.table, at: Self.pdpt + 8)
        try memory.store(Self.pt | PageTableFixtures.table, at: Self.pd)
        try memory.store(Self.frame | PageTableFixtures.table, at: Self.pt)
        return memory
    }

    private func set(_ memory: GuestMemory, word index: Int, _ value: UInt64) throws {
        try memory.store(value, at: Self.tableAddress + UInt64(index * 8))
    }

    private func assertRefused(_ memory: GuestMemory, at address: UInt64 = tableAddress, limits: PageTableCheck.Limits = .standard,
                               _ expected: PageTableCheckError, line: UInt = #line) {
        XCTAssertThrowsError(try PageTableCheck.run(memory: memory, tableAddress: address, physicalAddressBits: 40, limits: limits),
                             line: line) { error in
            XCTAssertEqual(error as? PageTableCheckError, expected, line: line)
        }
    }

    func testAWellFormedTableChecksClean() throws {
        let memory = try makeMemory()
        let report = try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40)
        XCTAssertEqual(report, .init(spaces: 1, tables: 4, mappings: 1, violations: [], violationsLeftOut: 0))
        // The same frame free in the bitmap: named (so the table above was read, not skipped).
        try memory.store(UInt64.max & ~(1 << ((Self.frame >> 12) & 63)), at: Self.bitmap + (Self.frame >> 12) / 64 * 8)
        let found = try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40)
        XCTAssertEqual(found.violations.map(\.rule), [.freeFrameMapped])
        XCTAssertEqual(found.violations.first?.frame, Self.frame)
    }

    func testCountsPastTheirCapacityAreRefusedByName() throws {
        let cases: [(PageTableCheckTable.Field, UInt64, UInt64)] = [
            (.spaceCount, 17, 16), (.kernelRangeCount, 17, 16), (.sharedRangeCount, 1 << 40, 16),
            (.bitmapFrames, UInt64(Self.ramSize >> 12) + 1, UInt64(Self.ramSize >> 12)),
        ]
        for (field, count, limit) in cases {
            let memory = try makeMemory()
            try set(memory, word: field.rawValue, count)
            assertRefused(memory, .countTooLarge(field: field, count: count, limit: limit))
        }
    }

    func testAddressesOutsideRAMAreRefused() throws {
        let memory = try makeMemory()
        assertRefused(memory, at: 0, .notPublished)
        assertRefused(memory, at: UInt64(Self.ramSize) - 64, .tableOutsideRAM(address: UInt64(Self.ramSize) - 64))
        assertRefused(memory, at: Self.tableAddress + 4, .tableOutsideRAM(address: Self.tableAddress + 4))
        try set(memory, word: 0, 0x1234)
        assertRefused(memory, .badMagic(found: 0x1234))
        try set(memory, word: 0, PageTableCheckTable.magic)

        try set(memory, word: PageTableCheckTable.Field.bitmapPhysical.rawValue, UInt64(Self.ramSize) - 8)
        assertRefused(memory, .outsideRAM(what: "bitmapPhysical", address: UInt64(Self.ramSize) - 8, length: UInt64(Self.ramSize >> 12) / 8))
        try set(memory, word: PageTableCheckTable.Field.bitmapPhysical.rawValue, Self.bitmap)

        try set(memory, word: PageTableCheckTable.spaceWord(0), 1 << 40)
        assertRefused(memory, .outsideRAM(what: "space 0 root", address: 1 << 40, length: 4096))
        try set(memory, word: PageTableCheckTable.spaceWord(0), Self.pml4 + 8)
        assertRefused(memory, .notPageAligned(what: "space 0 root", address: Self.pml4 + 8))
        try set(memory, word: PageTableCheckTable.spaceWord(0), Self.pml4)
        try set(memory, word: PageTableCheckTable.spaceWord(0) + 1, 99)
        assertRefused(memory, .badSpaceKind(space: 0, value: 99))
        try set(memory, word: PageTableCheckTable.spaceWord(0) + 1, 1)

        try set(memory, word: PageTableCheckTable.Field.kernelRangeCount.rawValue, 1)
        try set(memory, word: PageTableCheckTable.kernelRangeWord(0), 0x5000)
        try set(memory, word: PageTableCheckTable.kernelRangeWord(0) + 1, 0x4000)
        assertRefused(memory, .backwardsRange(what: "kernel range 0", start: 0x5000, end: 0x4000))
        try set(memory, word: PageTableCheckTable.kernelRangeWord(0) + 1, UInt64.max)
        assertRefused(memory, .outsideRAM(what: "kernel range 0", address: 0x5000, length: UInt64.max - 0x5000))
        try set(memory, word: PageTableCheckTable.Field.kernelRangeCount.rawValue, 0)

        // A present entry to a table past RAM.
        try memory.store((1 << 36) | PageTableFixtures.table, at: Self.pd + 8)
        assertRefused(memory, .pageTableOutsideRAM(level: 1, table: 1 << 36, space: 0))
    }

    func testLoopsOfTablesAreRefused() throws {
        // The root points at itself (a recursive slot).
        var memory = try makeMemory()
        try memory.store(Self.pml4 | PageTableFixtures.table, at: Self.pml4 + 8 * 510)
        assertRefused(memory, .tableReachedTwice(table: Self.pml4, level: 3, firstLevel: 4, space: 0))
        // The PT's PD points back at the PDPT.
        memory = try makeMemory()
        try memory.store(Self.pdpt | PageTableFixtures.table, at: Self.pd + 8)
        assertRefused(memory, .tableReachedTwice(table: Self.pdpt, level: 1, firstLevel: 3, space: 0))
        // A second space whose root is the first space's PD.
        memory = try makeMemory()
        try set(memory, word: PageTableCheckTable.Field.spaceCount.rawValue, 2)
        try set(memory, word: PageTableCheckTable.spaceWord(1), Self.pd)
        try set(memory, word: PageTableCheckTable.spaceWord(1) + 1, PageTableCheckTable.SpaceKind.process.rawValue)
        assertRefused(memory, .tableReachedTwice(table: Self.pd, level: 4, firstLevel: 2, space: 1))
        // The same root published twice is one space's tables, walked once.
        try set(memory, word: PageTableCheckTable.spaceWord(1), Self.pml4)
        XCTAssertEqual(try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40).tables, 4)
    }

    func testPageTablesWhereDataShouldBeAreRefused() throws {
        var memory = try makeMemory()
        try memory.store(Self.bitmap | PageTableFixtures.table, at: Self.pml4 + 8 * 3)
        assertRefused(memory, .pageTableInData(table: Self.bitmap, what: "the frame bitmap"))
        memory = try makeMemory()
        try set(memory, word: PageTableCheckTable.spaceWord(0), Self.tableAddress)
        assertRefused(memory, .pageTableInData(table: Self.tableAddress, what: "the page-table check table"))
    }

    func testEveryWalkIsBounded() throws {
        // 512 entries with a reserved bit: the violations kept stop at the limit, the rest are counted.
        let reserved = try makeMemory()
        for index in 0..<512 { try reserved.store(Self.frame | 1 << 45 | PageTableFixtures.present, at: Self.pt + UInt64(index * 8)) }
        let report = try PageTableCheck.run(memory: reserved, tableAddress: Self.tableAddress, physicalAddressBits: 40,
                                            limits: .init(violations: 4))
        XCTAssertEqual(report.violations.count, 4)
        XCTAssertEqual(report.violationsLeftOut, 508)
        XCTAssertEqual(report.violations.map(\.reservedBits), Array(repeating: 1 << 45, count: 4))

        // One space mapping one frame writable 512 times, twice over: no
        // violation, and no sweep that grows with the square of it.
        let aliases = try makeMemory()
        for index in 0..<512 { try aliases.store(Self.frame | PageTableFixtures.table, at: Self.pt + UInt64(index * 8)) }
        XCTAssertEqual(try PageTableCheck.run(memory: aliases, tableAddress: Self.tableAddress, physicalAddressBits: 40).violations, [])

        let memory = try makeMemory()
        assertRefused(memory, limits: .init(tables: 3), .tooManyTables(limit: 3))
        try memory.store((Self.frame + 4096) | PageTableFixtures.present, at: Self.pt + 8)
        assertRefused(memory, limits: .init(mappings: 1), .tooManyMappings(limit: 1))
        // 512 PDs each with 512 PTs' worth of entries pointing at one PT:
        // the one table met again at another place ends the walk at once.
        for index in 0..<512 { try memory.store(Self.pt | PageTableFixtures.table, at: Self.pd + UInt64(index * 8)) }
        assertRefused(memory, .tableReachedTwice(table: Self.pt, level: 1, firstLevel: 1, space: 0))
    }
}
