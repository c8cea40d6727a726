import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// What a hostile session found in the page-table check: tables that map
/// the same gigabytes again and again, a shared table reached with wider
/// rights by a second space, and more violations than are kept.
final class PageTableCheckHostileTableTests: XCTestCase {
    static let tableAddress: UInt64 = 0x10000
    static let bitmap: UInt64 = 0x20000
    let present: UInt64 = 1, writable: UInt64 = 2, user: UInt64 = 4

    /// The published table's words, and a bitmap with every frame used.
    private func publish(_ memory: GuestMemory, ramSize: UInt64, spaces: [(UInt64, PageTableCheckTable.SpaceKind)],
                         kernelRanges: [(UInt64, UInt64)] = []) throws {
        let words = PageTableCheckTable.self
        func set(_ index: Int, _ value: UInt64) throws { try memory.store(value, at: Self.tableAddress + UInt64(index * 8)) }
        try set(PageTableCheckTable.Field.magic.rawValue, words.magic)
        try set(PageTableCheckTable.Field.bitmapPhysical.rawValue, Self.bitmap)
        try set(PageTableCheckTable.Field.bitmapFrames.rawValue, ramSize >> 12)
        try set(PageTableCheckTable.Field.directMapStart.rawValue, 0x7F80_0000_0000)
        try set(PageTableCheckTable.Field.directMapEnd.rawValue, 0x7F80_0000_0000 + ramSize)
        try set(PageTableCheckTable.Field.spaceCount.rawValue, UInt64(spaces.count))
        try set(PageTableCheckTable.Field.kernelRangeCount.rawValue, UInt64(kernelRanges.count))
        for (index, space) in spaces.enumerated() {
            try set(words.spaceWord(index), space.0)
            try set(words.spaceWord(index) + 1, space.1.rawValue)
        }
        for (index, range) in kernelRanges.enumerated() {
            try set(words.kernelRangeWord(index), range.0)
            try set(words.kernelRangeWord(index) + 1, range.1)
        }
        for word in 0..<Int((ramSize >> 12 + 63) / 64) { try memory.store(UInt64.max, at: Self.bitmap + UInt64(word * 8)) }
    }

    /// 32,768 leaves of 1 GiB, all over the first GiB of a 4 GiB guest, and
    /// one free frame at that GiB's end: every leaf is named for it. Each
    /// leaf used to read its 4,096 bitmap words (134 million reads); the
    /// bitmap is now read once (16,384 words) and each leaf costs a few.
    func testTablesThatMapTheSameGigabytesAgainAreCheckedInBoundedWork() throws {
        let ramSize: UInt64 = 4 << 30
        let memory = try GuestMemory(size: Int(ramSize))
        let pml4: UInt64 = 0x4000_0000
        try publish(memory, ramSize: ramSize, spaces: [(pml4, .process)], kernelRanges: [(pml4, pml4 + 65 * 4096)])
        for top in 0..<64 {
            let pdpt = pml4 + 4096 * UInt64(top + 1)
            try memory.store(pdpt | present | writable, at: pml4 + UInt64(top * 8))
            for index in 0..<512 { try memory.store(0x83, at: pdpt + UInt64(index * 8)) }  // a writable 1 GiB leaf at 0
        }
        let last: UInt64 = (1 << 18) - 1  // the first GiB's last frame
        try memory.store(UInt64.max & ~(1 << 63), at: Self.bitmap + (last / 64) * 8)
        let report = try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40)
        XCTAssertEqual(report.mappings, 32_768)
        XCTAssertEqual(report.violations.count, 32)
        XCTAssertEqual(report.violations.count + report.violationsLeftOut, 32_768)
        XCTAssertEqual(Set(report.violations.map(\.rule)), [.freeFrameMapped])
        XCTAssertEqual(Set(report.violations.map(\.frame)), [last << 12])
    }

    /// The kernel half is one set of tables every space shares; a process
    /// whose own PML4 entry grants user access reaches it with rights the
    /// kernel's space does not have. Whichever space is published first,
    /// the kernel frame mapped there user-accessible is named once, in the
    /// process's space.
    func testASharedTableReachedWithWiderRightsIsCheckedForThem() throws {
        let ramSize: UInt64 = 16 << 20
        let memory = try GuestMemory(size: Int(ramSize))
        let kernelRoot: UInt64 = 0x30000, processRoot: UInt64 = 0x31000
        let pdpt: UInt64 = 0x32000, pd: UInt64 = 0x33000, pt: UInt64 = 0x34000, kernelFrame: UInt64 = 0x100000
        try memory.store(pdpt | present | writable, at: kernelRoot + 255 * 8)           // supervisor-only for the kernel
        try memory.store(pdpt | present | writable | user, at: processRoot + 255 * 8)   // user for the process
        try memory.store(pd | present | writable | user, at: pdpt + 511 * 8)
        try memory.store(pt | present | writable | user, at: pd)
        try memory.store(kernelFrame | present | writable | user, at: pt)
        for order in [[(kernelRoot, PageTableCheckTable.SpaceKind.kernel), (processRoot, .process)],
                      [(processRoot, .process), (kernelRoot, .kernel)]] {
            try publish(memory, ramSize: ramSize, spaces: order, kernelRanges: [(0x100000, 0x200000)])
            let report = try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40)
            XCTAssertEqual(report.violations.map(\.rule), [.userMapsKernelFrame], "\(order.map(\.1))")
            XCTAssertEqual(report.violations.first?.frame, kernelFrame)
            XCTAssertEqual(report.violations.first?.mappings.map(\.space.root), [processRoot])
            XCTAssertEqual(report.violations.first?.mappings.first?.virtual, 0x7FFF_C000_0000)
            XCTAssertEqual(report.mappings, 1, "the shared page counts once")
        }
    }

    /// Two spaces map the same 100 frames writable: 100 violations, 32 kept
    /// and 68 counted (they were cut at 33).
    func testWritablePairsPastTheLimitAreCounted() throws {
        let ramSize: UInt64 = 16 << 20
        let memory = try GuestMemory(size: Int(ramSize))
        let first: UInt64 = 0x30000, second: UInt64 = 0x38000
        try publish(memory, ramSize: ramSize, spaces: [(first, .process), (second, .testCase)])
        for root in [first, second] {
            try memory.store((root + 0x1000) | present | writable, at: root)
            try memory.store((root + 0x2000) | present | writable, at: root + 0x1000)
            try memory.store((root + 0x3000) | present | writable, at: root + 0x2000)
            for page in 0..<100 { try memory.store((0x400000 + UInt64(page) * 4096) | present | writable, at: root + 0x3000 + UInt64(page * 8)) }
        }
        let report = try PageTableCheck.run(memory: memory, tableAddress: Self.tableAddress, physicalAddressBits: 40)
        XCTAssertEqual(report.violations.count, 32)
        XCTAssertEqual(report.violationsLeftOut, 68)
        XCTAssertEqual(Set(report.violations.map(\.rule)), [.writableInTwoSpaces])
        XCTAssertEqual(report.violations.map(\.frame), (0..<32).map { 0x400000 + UInt64($0) * 4096 })
    }
}
