import Foundation
@testable import KVMHost
import XCTest

/// Guest memory checks every guest-supplied range, and lies between two
/// inaccessible pages, so that a host access that escaped the checks would
/// fault at once rather than touch other host memory.
final class GuestMemoryBoundsTests: XCTestCase {
    func testRangesAreCheckedWithoutOverflow() throws {
        let memory = try GuestMemory(size: 1 << 20)
        XCTAssertTrue(memory.contains(0, length: 1 << 20))
        XCTAssertFalse(memory.contains(1, length: 1 << 20))
        XCTAssertFalse(memory.contains(UInt64.max, length: 2), "the end wraps around")
        XCTAssertFalse(memory.contains(8, length: UInt64.max))
        XCTAssertThrowsError(try memory.read(at: (1 << 20) - 3, count: 4)) {
            XCTAssertEqual($0 as? GuestMemoryError, GuestMemoryError(address: (1 << 20) - 3, length: 4, memorySize: 1 << 20))
        }
        XCTAssertThrowsError(try memory.store(UInt64(1), at: UInt64.max - 3)) {
            XCTAssertEqual($0 as? GuestMemoryError, GuestMemoryError(address: UInt64.max - 3, length: 8, memorySize: 1 << 20))
        }
    }

    func testAnInaccessiblePageLiesOnEachSide() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let start = UInt(bitPattern: memory.base)
        let end = start + UInt(memory.size)
        XCTAssertEqual(try permissions(at: start), "rw-p")
        XCTAssertEqual(try permissions(at: end - 1), "rw-p")
        XCTAssertEqual(try permissions(at: start - 1), "---p", "the page below guest memory")
        XCTAssertEqual(try permissions(at: end), "---p", "the page above guest memory")
        XCTAssertEqual(try permissions(at: end + 4095), "---p")
    }

    /// The permissions /proc/self/maps gives the mapping holding `address`.
    private func permissions(at address: UInt) throws -> String? {
        // Read to the end: /proc files report a size of 0.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ")
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            if bounds.count == 2, (bounds[0]..<bounds[1]).contains(address) { return String(fields[1]) }
        }
        return nil
    }
}
