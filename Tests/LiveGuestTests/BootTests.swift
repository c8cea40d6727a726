import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The real guest kernel, booted under KVM.
final class BootTests: GuestBehaviourTestCase {
    func testBootsToBannerAndReadyReportWithTheMemoryMapItWasGiven() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            let ready = try guest.boot()
            XCTAssertTrue(guest.serial.text.hasPrefix("guest kernel: long mode, kernel region at 0x00007fff80000000\n"),
                          guest.serial.text)
            switch backend {
            case .kvm:
                XCTAssertEqual(ready.memoryMap.entries, guest.memoryMap.entries, "the guest read back exactly the map KVMHost wrote")
                XCTAssertEqual(ready.startInfoPhysical, PVHBoot.bootInfoRange.lowerBound)
            case .tcg:
                // QEMU's pc machine: RAM below the EBDA and from 1 MiB to
                // near the end of memory, where SeaBIOS keeps its tables (at
                // most 256 KiB); its option ROM puts the start info in low RAM.
                let ram = ready.memoryMap.entries.filter(\.isRAM)
                XCTAssertEqual(ram.map(\.base), [0, 0x100000], "\(ready.memoryMap.entries)")
                XCTAssertEqual(ram.first?.end, 0x9FC00)
                let top = UInt64(guest.configuration.memorySize)
                XCTAssertTrue(ram.last.map { $0.end <= top && $0.end >= top - (256 << 10) } ?? false, "\(ready.memoryMap.entries)")
                XCTAssertLessThan(ready.startInfoPhysical, 0x9FC00)
            }
            XCTAssertEqual(ready.kernelPhysicalStart, 0x100000)
            XCTAssertGreaterThan(ready.kernelPhysicalEnd, ready.kernelPhysicalStart)
            XCTAssertEqual(ready.kernelVirtualBase, 0x0000_7FFF_8000_0000)
            XCTAssertEqual(ready.directMapBase, 0x0000_7F80_0000_0000)
            // The heap lies inside the kernel image, in the kernel region, below 2^47.
            XCTAssertGreaterThanOrEqual(ready.heapStart, ready.kernelVirtualBase + ready.kernelPhysicalStart)
            XCTAssertLessThanOrEqual(ready.heapEnd, ready.kernelVirtualBase + ready.kernelPhysicalEnd)
            XCTAssertLessThan(ready.heapEnd, 1 << 47)
            // The kernel's part of the boot: its two big steps lie inside it, each took time.
            let cycles = ready.bootCycles
            XCTAssertGreaterThan(cycles.physicalMemory, 0)
            XCTAssertGreaterThan(cycles.addressSpace, 0)
            XCTAssertLessThan(cycles.physicalMemory + cycles.addressSpace, cycles.total, "\(cycles)")
            XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
            XCTAssertTrue(guest.serial.text.contains("guest kernel: ready\n"))
        }
    }

    func testMemorySizeAndHolesReachTheGuest() throws {
        try requireKVM()
        for (size, holes) in [(16 << 20, [Range<UInt64>]()), (1 << 30, [0x800000..<0xA00000])] {
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: size, memoryHoles: holes))
            let ready = try guest.boot()
            XCTAssertEqual(ready.memoryMap.entries, guest.memoryMap.entries)
            XCTAssertEqual(ready.memoryMap.last?.end, UInt64(size))
            for hole in holes {
                XCTAssertTrue(ready.memoryMap.contains { $0.base == hole.lowerBound && $0.end == hole.upperBound && !$0.isRAM })
            }
        }
    }

    func testCommandsRoundTripThroughTheChannel() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            XCTAssertEqual(try guest.call(Echo([1, 2, 0xFFFF_FFFF_FFFF_FFFF])).values, [1, 2, 0xFFFF_FFFF_FFFF_FFFF])
            XCTAssertEqual(try guest.call(Echo([])).values, [])
            // As many values as one reply holds (sequence, status, count, 507
            // values); one more does not fit, and the host is told so.
            let most = (0..<UInt64(507)).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
            XCTAssertEqual(try guest.call(Echo(most)).values, most)
            XCTAssertThrowsError(try guest.call(Echo(most + [1])).values) { error in
                XCTAssertEqual(error as? GuestCallError, GuestCallError(call: .echo, reason: .replyTooLong))
            }
            XCTAssertThrowsError(try guest.call(Echo(most + [1, 2, 3])).values) { error in
                XCTAssertEqual(error as? GuestCallError, GuestCallError(call: .echo, reason: .argumentsTooLong))
            }
            XCTAssertEqual(try guest.call(Echo([5])).values, [5], "the channel goes on")
            XCTAssertEqual(try guest.call(AssertEqual(5, 5)), Done())
            XCTAssertEqual(try guest.shutdown(status: 7), 7)
        }
    }

    func testOrdinarySwiftRunsOnTheKernelHeapAndGivesEveryByteBack() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            for count: UInt64 in [0, 1, 64] {
                let reply = try guest.call(ExerciseHeap(count: count))
                let expected = (0..<count).reduce(UInt64(0)) { sum, index in
                    let value = (count - 1 - index) * (count - 1 - index)
                    return sum + value * (index + 1)
                }
                XCTAssertEqual(reply.checksum, expected, "array contents after \(count) front inserts")
                if count > 0 { XCTAssertGreaterThan(reply.peakBytesInUse, reply.bytesInUseBefore, "the array and object were on the heap") }
                XCTAssertEqual(reply.bytesInUseAfter, reply.bytesInUseBefore, "free gave every byte back")
            }
        }
    }

    func testRunToExitAnswersWithTheGivenCommandsThenShutsDown() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            XCTAssertEqual(try guest.runToExit(calls: [Echo([1]), Shutdown(status: 7)]), 7)
            let quiet = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            XCTAssertEqual(try quiet.runToExit(), ExitStatus.success)
        }
    }

    /// The statuses the kernel ends with when it fails are never sent as a
    /// guest's own: the host would read them as those failures.
    func testShutdownRefusesTheKernelsFailureStatuses() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            for exit in KernelExit.allCases {
                XCTAssertThrowsError(try guest.shutdown(status: exit.rawValue)) {
                    XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .shutdown, reason: .kernelStatus(exit)), "\(exit)")
                }
            }
            XCTAssertThrowsError(try guest.runToExit(calls: [Shutdown(status: ExitStatus.panic)])) {
                XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .shutdown, reason: .kernelStatus(.panic)))
            }
            XCTAssertEqual(try guest.shutdown(status: 7), 7, "the guest took none of them and goes on")
        }
    }

    /// The kernel reads each call's arguments as that call's type, strictly:
    /// words missing, words left over and values out of range are refused,
    /// each named, and the kernel goes on.
    func testTheKernelRefusesArgumentsThatAreNotTheCalls() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            func refusal<Target: GuestCall>(_ words: [UInt64], as target: Target.Type) -> GuestCallError.Reason? {
                do {
                    _ = try guest.call(RawCall<Target>(words: words))
                    return nil
                } catch let error as GuestCallError {
                    XCTAssertEqual(error.call, Target.code)
                    return error.reason
                } catch {
                    XCTFail("\(error)")
                    return nil
                }
            }
            XCTAssertEqual(refusal([1], as: AssertEqual.self), .malformedArguments(.missingWord(index: 1)))
            XCTAssertEqual(refusal([1, 1, 9], as: AssertEqual.self), .malformedArguments(.extraWords(count: 1)))
            XCTAssertEqual(refusal([0x4000_0000, 7, 0], as: MapPage.self), .malformedArguments(.invalidValue(index: 1, value: 7)))
            XCTAssertEqual(refusal([5], as: Echo.self), .malformedArguments(.invalidValue(index: 0, value: 5)), "a count past the words sent")
            XCTAssertEqual(refusal([1 << 33], as: Shutdown.self), .malformedArguments(.invalidValue(index: 0, value: 1 << 33)))
            XCTAssertEqual(try guest.call(Echo([6])).values, [6], "the kernel goes on")
        }
    }
}

/// `Target`'s code with hand-made argument words, for feeding the kernel
/// what no call type would encode.
private struct RawCall<Target: GuestCall>: GuestCall {
    typealias Reply = Target.Reply
    static var code: CallCode { Target.code }
    var words: [UInt64]
    init(words: [UInt64]) { self.words = words }
    init(from decoder: inout WireDecoder) throws(WireError) { words = [] }
    func encode(to encoder: inout WireEncoder) { for word in words { encoder.word(word) } }
}
