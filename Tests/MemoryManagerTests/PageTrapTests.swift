import MemoryManager
import SeededRandom
import XCTest

/// PageTrap.decide natively: every reason, and a seeded sweep of error codes
/// and addresses checked against the rule the kernel documents.
final class PageTrapTests: XCTestCase {
    private let userLimit: UInt64 = 0x0000_0080_0000_0000
    private let user = PageFaultError.user, write = PageFaultError.write, fetch = PageFaultError.instructionFetch
    private let protection = PageFaultError.protection, reservedBit = PageFaultError.reservedBit

    private func space() throws -> MemorySpace {
        let memory = SimulatedPhysicalMemory(megabytes: 1)
        var pagemap = memory.makePagemap()
        var space = MemorySpace(base: 0, limit: userLimit)
        for (start, backing, flags) in [(UInt64(0x10000), Backing.lazy, PageTableFlags([.user, .writable])),
                                        (0x20000, .lazy, [.user]), (0x30000, .eager, [.user, .writable, .noExecute]),
                                        (0x40000, .guardPage, [])] {
            try space.reserve(at: start, pages: 4, backing: backing, flags: flags, pagemap: &pagemap, frames: &memory.harness.allocator, zero: { _ in }, invalidate: { _ in })
        }
        return space
    }

    func testEachReason() throws {
        let space = try space()
        func decide(_ address: UInt64, _ errorCode: UInt64) -> PageTrapDecision {
            PageTrap.decide(address: address, errorCode: errorCode, space: space, userLimit: userLimit)
        }
        XCTAssertEqual(decide(0x10000, 0), .panic)
        XCTAssertEqual(decide(0x10000, write), .panic, "any kernel-mode fault")
        XCTAssertEqual(decide(0x10000, user | reservedBit | protection), .faultProcess(.reservedBit))
        XCTAssertEqual(decide(userLimit, user), .faultProcess(.kernelAddress))
        XCTAssertEqual(decide(.max, user | write), .faultProcess(.kernelAddress))
        XCTAssertEqual(decide(0x20000, user | protection | write), .faultProcess(.writeToReadOnly))
        XCTAssertEqual(decide(0x30000, user | protection | fetch), .faultProcess(.executeNoExecute))
        XCTAssertEqual(decide(0x10000, user | protection), .faultProcess(.notAllocated))
        XCTAssertEqual(decide(0x90000, user), .faultProcess(.notAllocated))
        XCTAssertEqual(decide(0xFFFF, user), .faultProcess(.notAllocated), "one byte below the first reservation")
        XCTAssertEqual(decide(0x40000, user | write), .faultProcess(.guardPage))
        XCTAssertEqual(decide(0x20000, user | write), .faultProcess(.writeToReadOnly))
        XCTAssertEqual(decide(0x30000, user | fetch), .faultProcess(.executeNoExecute))
        XCTAssertEqual(decide(0x13FFF, user | write), .reallocate(flags: [.user, .writable]))
        XCTAssertEqual(decide(0x20000, user), .reallocate(flags: [.user]))
        XCTAssertEqual(decide(0x14000, user), .faultProcess(.notAllocated), "one byte past the end")
    }

    /// 20,000 seeded faults: the decision follows the documented order of
    /// checks, every time.
    func testASeededSweepFollowsTheRule() throws {
        let space = try space()
        var random = SplitMix64(state: 0x7A9)
        for _ in 0..<20_000 {
            let errorCode = random.next() & 0x1F
            let address = random.next() % 2 == 0 ? random.next() % 0x50000 : random.next()
            let decision = PageTrap.decide(address: address, errorCode: errorCode, space: space, userLimit: userLimit)
            let expected: PageTrapDecision
            let reservation = space.reservation(containing: address)
            if errorCode & user == 0 { expected = .panic }
            else if errorCode & reservedBit != 0 { expected = .faultProcess(.reservedBit) }
            else if address >= userLimit { expected = .faultProcess(.kernelAddress) }
            else if errorCode & protection != 0 {
                expected = .faultProcess(errorCode & write != 0 ? .writeToReadOnly : errorCode & fetch != 0 ? .executeNoExecute : .notAllocated)
            } else if let reservation {
                if reservation.backing == .guardPage { expected = .faultProcess(.guardPage) }
                else if errorCode & write != 0 && !reservation.flags.contains(.writable) { expected = .faultProcess(.writeToReadOnly) }
                else if errorCode & fetch != 0 && reservation.flags.contains(.noExecute) { expected = .faultProcess(.executeNoExecute) }
                else { expected = .reallocate(flags: reservation.flags) }
            } else { expected = .faultProcess(.notAllocated) }
            XCTAssertEqual(decision, expected, "address \(String(address, radix: 16)) error \(String(errorCode, radix: 2))")
        }
    }
}
