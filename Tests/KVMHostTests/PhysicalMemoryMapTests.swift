import GuestProtocol
@testable import KVMHost
import XCTest

final class PhysicalMemoryMapTests: XCTestCase {
    typealias Entry = MemoryMapEntry

    func testStandardMapReservesPageZeroAndTheLegacyHole() throws {
        let map = try PhysicalMemoryMap(memorySize: 64 << 20)
        XCTAssertEqual(map.entries, [
            Entry(base: 0, length: 0x1000, type: MemoryType.reserved),
            Entry(base: 0x1000, length: 0x9F000, type: MemoryType.ram),
            Entry(base: 0xA0000, length: 0x60000, type: MemoryType.reserved),
            Entry(base: 0x100000, length: (64 << 20) - 0x100000, type: MemoryType.ram),
        ])
        XCTAssertEqual(map.usableBytes, (64 << 20) - 0x1000 - 0x60000)
    }

    func testHoleInTheMiddleSplitsRAM() throws {
        let map = try PhysicalMemoryMap(memorySize: 32 << 20, holes: [0x800000..<0xA00000])
        XCTAssertEqual(Array(map.entries.suffix(3)), [
            Entry(base: 0x100000, length: 0x700000, type: MemoryType.ram),
            Entry(base: 0x800000, length: 0x200000, type: MemoryType.reserved),
            Entry(base: 0xA00000, length: (32 << 20) - 0xA00000, type: MemoryType.ram),
        ])
        XCTAssertTrue(map.isUsableRAM(0x7FF000..<0x800000))
        XCTAssertFalse(map.isUsableRAM(0x7FF000..<0x800001))
        XCTAssertFalse(map.isUsableRAM(0x9FFFFF..<0xA00001))
    }

    func testEntriesCoverMemoryExactlyOnce() throws {
        let size: UInt64 = 48 << 20
        let map = try PhysicalMemoryMap(memorySize: size, holes: [0x100000..<0x200000, 0x2F00000..<size, 0x180000..<0x300000])
        var next: UInt64 = 0
        for entry in map.entries {
            XCTAssertEqual(entry.base, next)
            XCTAssertGreaterThan(entry.length, 0)
            next = entry.end
        }
        XCTAssertEqual(next, size)
        XCTAssertEqual(map.entries.last?.type, MemoryType.reserved)
    }

    func testBadHolesAreRefused() {
        let size: UInt64 = 16 << 20
        let cases: [(Range<UInt64>, MemoryMapError)] = [
            (0x1001..<0x2000, .holeNotPageAligned(0x1001..<0x2000)),
            (0x1000..<0x1000, .emptyHole(0x1000..<0x1000)),
            (0x1000..<0x5000_0000, .holeOutsideMemory(0x1000..<0x5000_0000, memorySize: size)),
            (0..<size, .noUsableRAM),
        ]
        for (hole, expected) in cases {
            XCTAssertThrowsError(try PhysicalMemoryMap(memorySize: size, holes: [hole]), "\(hole)") {
                XCTAssertEqual($0 as? MemoryMapError, expected)
            }
        }
    }

    /// No silent limits: a map longer than the boot page and the ready
    /// report carry is refused before boot, at exactly one hole past the limit.
    func testMapsTheGuestCannotTakeAreRefused() throws {
        let size: UInt64 = 64 << 20
        // Holes of one page every 64 KiB from 2 MiB: each adds two entries.
        func holes(_ count: Int) -> [Range<UInt64>] {
            (0..<count).map { index in
                let start = 0x200000 + UInt64(index) * 0x10000
                return start..<(start + 0x1000)
            }
        }
        // Page zero, [0x1000, 0xA0000), the legacy hole, [0x100000, ...): 4 entries.
        let limit = PhysicalMemoryMap.maximumEntries
        XCTAssertEqual(limit, 128, "the ready record's memory map")
        let fits = try PhysicalMemoryMap(memorySize: size, holes: holes((limit - 4) / 2))
        XCTAssertEqual(fits.entries.count, limit)
        XCTAssertEqual(fits.entries.filter(\.isRAM).count, limit / 2)
        XCTAssertThrowsError(try PhysicalMemoryMap(memorySize: size, holes: holes((limit - 4) / 2 + 1))) {
            XCTAssertEqual($0 as? MemoryMapError, .tooManyEntries(limit + 2, limit: limit))
        }
    }
}
