import GuestImage
import MemoryManager
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Programs at base 0x0 in processes of their own, and the page trap.
final class ProcessTests: GuestBehaviourTestCase {
    /// A fresh, ready guest: from one snapshot on kvm (`ReadyGuests`).
    private func boot() throws -> LiveGuest {
        try readyGuest().0
    }

    func testProgramReadsItsOwnFirstByteAtAddressZero() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let run = try guest.runProgram("first-byte")
            XCTAssertEqual(run.outcome, .exited(status: 0))
            XCTAssertEqual(guest.programReports, [0xEB], "the jmp at virtual address 0")
            XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, "every frame and table came back")
        }
    }

    func testLazyReservationTakesAFramePerTouchedPage() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let run = try guest.runProgram("lazy-touch")
            XCTAssertEqual(run.outcome, .exited(status: 0))
            XCTAssertEqual(guest.programReports, [280], "the values written read back")
            // Exactly the 10 touched pages of the 64 reserved: the program never
            // touches its stack (system calls enter the kernel on its own stack).
            XCTAssertEqual(run.reallocations, 10)
            XCTAssertEqual(guest.pageTraps.count, 10)
            XCTAssertTrue(guest.pageTraps.allSatisfy(\.reallocated))
            XCTAssertEqual(Set(guest.pageTraps.map { $0.address & ~0xFFF }).count, 10, "one fault a page")
            XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore)
        }
    }

    /// A ring-3 int3 reaches the kernel and is resumed after: 256 round
    /// trips, counted one by one, and the program exits on its own.
    func testUserBreakpointsAreTakenAndResumed() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let run = try guest.runProgram("int3-bench", reportFaults: false)
            XCTAssertEqual(run.outcome, .exited(status: 0))
            XCTAssertEqual(run.breakpoints, 256)
            XCTAssertEqual(run.reallocations, 0)
            XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore)
        }
    }

    /// In the page trap's benchmark mode a fault is skipped, not decided:
    /// 256 faults on an address never mapped, no frame taken, no decision kept.
    func testSkippedFaultsAreEmptyRoundTrips() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let index = try XCTUnwrap(try guest.programNames().firstIndex(of: "fault-bench"))
            let run = try guest.call(RunProgramSkippingFaults(index: UInt64(index)), timeout: .seconds(60))
            XCTAssertEqual(run.outcome, .exited(status: 0))
            XCTAssertEqual(run.breakpoints, 256, "each skipped fault is counted as a round trip")
            XCTAssertEqual(run.reallocations, 0)
            XCTAssertEqual(guest.pageTraps, [], "no decision was made or reported")
            XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore)
        }
    }

    func testConsoleWriteAndExitStatus() throws {
        try onEachBackend { _ in
            let guest = try boot()
            XCTAssertEqual(try guest.runProgram("hello").outcome, .exited(status: 7))
            XCTAssertTrue(guest.serial.text.contains("hello from a user program at 0x0\n"))
        }
    }

    func testFaultsKillTheProcessNotTheKernel() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let cases: [(String, FaultReason, UInt64?)] = [
                ("wild-touch", .notAllocated, 0x5000_0000),
                ("write-code", .writeToReadOnly, 0),
                ("read-kernel", .kernelAddress, 0x0000_7FFF_8010_9000),
                ("jump-kernel", .kernelAddress, 0x0000_7FFF_8010_9000),
                ("exec-data", .executeNoExecute, nil),
                ("stack-overflow", .guardPage, nil),
                ("port-out", .exception, nil),
            ]
            for (name, reason, address) in cases {
                let run = try guest.runProgram(name)
                guard case .faulted(let got, let faultAddress, _, let vector) = run.outcome else {
                    XCTFail("\(name): \(run.outcome)")
                    continue
                }
                XCTAssertEqual(got, reason, name)
                if let address { XCTAssertEqual(faultAddress, address, name) }
                if reason == .exception { XCTAssertEqual(vector, 13, "\(name): #GP") }
                XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, "\(name) left nothing behind")
            }
            // The kernel is still up and runs the next program.
            XCTAssertEqual(try guest.runProgram("first-byte").outcome, .exited(status: 0))
        }
    }

    func testOutOfMemoryDuringDemandPagingFaultsOnlyTheProcess() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend, memorySize: 16 << 20))
            _ = try guest.boot()
            let run = try guest.runProgram("exhaust", reportFaults: false, timeout: .seconds(120))
            guard case .faulted(let reason, _, _, _) = run.outcome else { return XCTFail("\(run.outcome)") }
            XCTAssertEqual(reason, .outOfMemory)
            XCTAssertGreaterThan(run.reallocations, 1000)
            XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, "frames conserved")
            XCTAssertEqual(try guest.runProgram("hello").outcome, .exited(status: 7))
        }
    }

    /// A process frees pages it filled and reserves as many again: the
    /// frames come back dirty and must be zeroed before it sees them; then
    /// it frees those and writes where they were, which faults (on tcg a
    /// translation the kernel forgot to invalidate would take the write).
    func testFreedFramesComeBackZeroedAndFreedPagesAreGone() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let before = try guest.call(ReadFrameStatistics()).free
            let run = try guest.runProgram("free-reuse")
            XCTAssertEqual(guest.programReports, [0], "the OR of every word of the reserved-again pages")
            XCTAssertEqual(run.outcome, .faulted(reason: .notAllocated, address: 0x1000, rip: 0x8B, vector: 14))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before, "every frame and table given back")
        }
    }

    func testAnotherProcessesAddressesAreNotThere() throws {
        try onEachBackend { _ in
            let guest = try boot()
            XCTAssertEqual(try guest.runProgram("report-address").outcome, .exited(status: 0))
            XCTAssertEqual(guest.programReports, [0x1000], "allocations start right above the program")
            XCTAssertEqual(try guest.runProgram("lazy-touch").outcome, .exited(status: 0))
            let snoop = try guest.runProgram("snoop")
            XCTAssertEqual(snoop.outcome, .faulted(reason: .notAllocated, address: 0x1000,
                                                    rip: 0x5, vector: 14))
        }
    }

    func testTheHostCanPassAProgramImage() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let before = try guest.call(ReadFrameStatistics()).free
            // mov $42, %edi; mov $1, %eax; int $0x80: exit(42), linked at 0x0.
            let code: [UInt8] = [0xBF, 42, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xCD, 0x80]
            let image = ELFBuilder(segments: [.init(physicalAddress: 0, bytes: code)], pvhEntry: nil).build()
            XCTAssertEqual(try guest.runProgram(image: image).outcome, .exited(status: 42))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before, "the buffer and the process went back")
            // Garbage is refused, and the kernel stays up.
            XCTAssertThrowsError(try guest.runProgram(image: Array("not an ELF".utf8))) {
                XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .runProgramImage, reason: .failed(.imageRefused)))
            }
            XCTAssertEqual(try guest.runProgram("hello").outcome, .exited(status: 7))
        }
    }

    func testAHundredProcessesInARowLeakNothing() throws {
        try onEachBackend { _ in
            let guest = try boot()
            let before = try guest.call(ReadFrameStatistics()).free
            for _ in 0..<100 {
                XCTAssertEqual(try guest.runProgram("lazy-touch", reportFaults: false).outcome, .exited(status: 0))
            }
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before)
        }
    }
}

/// User-mode access checks: ring-3 reads, writes and fetches against the
/// model, for every combination of leaf and parent flags.
final class UserAccessCheckLiveTests: GuestBehaviourTestCase {
    func testTheMMUDoesWhatTheModelPredictsFromRing3() throws {
        try onEachBackend { backend in
            let quirks = try MMUQuirks.of(backend)
            try CPUVariants.forEach(on: backend) { guest, model, cpu in
                let run = AccessCheckRun(
                    total: UserAccessCheck.count,
                    call: { try guest.call(RunUserAccessChecks(first: $0, count: $1), timeout: .seconds(120)) },
                    predict: { index in
                        let check = UserAccessCheck(index: index)
                        return (quirks.expectedFault(check.predictedFault(model)), check.access,
                                "leaf \(check.leaf) parent \(check.parent) \(check.access) from ring 3")
                    })
                let faults = try run.compare(context: "\(backend) \(cpu)")
                XCTAssertGreaterThan(faults, 600, "most combinations fault from ring 3: \(cpu)")
                XCTAssertLessThan(faults, UserAccessCheck.count, "and some do not: \(cpu)")
            }
        }
    }
}
