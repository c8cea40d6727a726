import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The real guest kernel, booted under KVM.
final class BootTests: XCTestCase {
    func testBootsToBannerAndReadyReportWithTheMemoryMapItWasGiven() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        let ready = try guest.boot()
        XCTAssertTrue(guest.serial.text.hasPrefix("guest kernel: long mode, kernel region at 0x00007fff80000000\n"),
                      guest.serial.text)
        XCTAssertEqual(ready.memoryMap, guest.memoryMap.entries, "the guest read back exactly the map KVMHost wrote")
        XCTAssertEqual(ready.startInfoPhysical, 0x1000)
        XCTAssertEqual(ready.kernelPhysicalStart, 0x100000)
        XCTAssertGreaterThan(ready.kernelPhysicalEnd, ready.kernelPhysicalStart)
        XCTAssertEqual(ready.kernelVirtualBase, 0x0000_7FFF_8000_0000)
        XCTAssertEqual(ready.directMapBase, 0x0000_7F80_0000_0000)
        // The heap lies inside the kernel image, in the kernel region, below 2^47.
        XCTAssertGreaterThanOrEqual(ready.heapStart, ready.kernelVirtualBase + ready.kernelPhysicalStart)
        XCTAssertLessThanOrEqual(ready.heapEnd, ready.kernelVirtualBase + ready.kernelPhysicalEnd)
        XCTAssertLessThan(ready.heapEnd, 1 << 47)
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
        XCTAssertTrue(guest.serial.text.contains("guest kernel: ready\n"))
    }

    func testMemorySizeAndHolesReachTheGuest() throws {
        try requireKVM()
        for (size, holes) in [(16 << 20, [Range<UInt64>]()), (1 << 30, [0x800000..<0xA00000])] {
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: size, memoryHoles: holes))
            let ready = try guest.boot()
            XCTAssertEqual(ready.memoryMap, guest.memoryMap.entries)
            XCTAssertEqual(ready.memoryMap.last?.end, UInt64(size))
            for hole in holes {
                XCTAssertTrue(ready.memoryMap.contains { $0.base == hole.lowerBound && $0.end == hole.upperBound && !$0.isRAM })
            }
        }
    }

    func testCommandsRoundTripThroughTheChannel() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        let first = try guest.execute(.echo([1, 2, 0xFFFF_FFFF_FFFF_FFFF]))
        XCTAssertEqual(first.status, ReplyStatus.ok)
        XCTAssertEqual(first.values, [1, 2, 0xFFFF_FFFF_FFFF_FFFF])
        let second = try guest.execute(.echo([]))
        XCTAssertEqual(second.values, [])
        XCTAssertEqual(second.commandSequence, first.commandSequence + 1)
        XCTAssertEqual(try guest.execute(.assertEqual(5, 5)).status, ReplyStatus.ok)
        XCTAssertEqual(try guest.execute(.raiseException(vector: 200)).status, ReplyStatus.badArguments)
        XCTAssertEqual(try guest.shutdown(status: 7), 7)
    }

    func testOrdinarySwiftRunsOnTheKernelHeapAndGivesEveryByteBack() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        for count: UInt64 in [0, 1, 64] {
            let reply = try guest.execute(.exerciseHeap(count: count))
            XCTAssertEqual(reply.status, ReplyStatus.ok)
            let expected = (0..<count).reduce(UInt64(0)) { sum, index in
                let value = (count - 1 - index) * (count - 1 - index)
                return sum + value * (index + 1)
            }
            XCTAssertEqual(reply.values.count, 4)
            XCTAssertEqual(reply.values[0], expected, "array contents after \(count) front inserts")
            if count > 0 { XCTAssertGreaterThan(reply.values[2], reply.values[1], "the array and object were on the heap") }
            XCTAssertEqual(reply.values[3], reply.values[1], "free gave every byte back")
        }
    }

    func testRunToExitAnswersWithTheGivenCommandsThenShutsDown() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        XCTAssertEqual(try guest.runToExit(commands: [.echo([1]), .shutdown(status: 3)]), 3)
        let quiet = try LiveGuest(kernel: GuestImage.kernel())
        XCTAssertEqual(try quiet.runToExit(), ExitStatus.success)
    }
}
