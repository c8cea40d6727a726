import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Guests of several CPUs: the kernel finds them in the ACPI tables, starts
/// each with INIT-SIPI-SIPI through its real-mode trampoline and counts the
/// ones that checked in, on both backends.
final class SeveralCPUsTests: GuestBehaviourTestCase {
    private func boot(cpus: Int) throws -> (LiveGuest, ReadyRecord) {
        var configuration = LiveGuest.Configuration()
        configuration.cpuCount = cpus
        let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: configuration)
        return (guest, try guest.boot())
    }

    func testEveryCPUTheTablesListChecksIn() throws {
        try onEachBackend { _ in
            for cpus in [1, 2, GuestCPUs.maximumCount] {
                let (guest, ready) = try boot(cpus: cpus)
                XCTAssertEqual(ready.cpuCount, UInt64(cpus), "\(cpus) CPUs")
                guest.consoleInput = ScriptedConsoleInput(lines: ["cpus", "quit"])
                let before = guest.serial.text.count
                XCTAssertEqual(try guest.call(RunMonitor(), timeout: .seconds(60)), Done())
                let listed = String(guest.serial.text.dropFirst(before)).split(separator: "\n").filter { $0.hasPrefix("cpu ") }
                XCTAssertEqual(listed, ["cpu 0: APIC ID 0, online, boot CPU, runs the monitor"]
                               + (1..<cpus).map { "cpu \($0): APIC ID \($0), online, idle" }, "\(cpus) CPUs")
                // The others still run the kernel's paging as one CPU does.
                XCTAssertEqual(try guest.runProgram("lazy-touch").outcome, .exited(status: 0), "\(cpus) CPUs")
            }
        }
    }

    /// The trampoline's page and the other CPUs' stacks are taken at boot,
    /// as reservations of their own, only when there are other CPUs; every
    /// other frame is as free as with one CPU.
    func testTheStartUpPageAndTheStacksAreReservedOnlyForSeveralCPUs() throws {
        try onEachBackend { _ in
            var free: [Int: UInt64] = [:]
            for cpus in [1, 3] {
                let (guest, _) = try boot(cpus: cpus)
                let stats = try guest.call(ReadFrameStatistics())
                let added = stats.reservations.filter { [.startupTrampoline, .cpuStacks].contains($0.kind) }
                if cpus == 1 {
                    XCTAssertEqual(added.map(\.kind), [])
                } else {
                    XCTAssertEqual(added.map(\.kind), [.startupTrampoline, .cpuStacks])
                    XCTAssertEqual(added[0].range, GuestCPUs.startupPage..<GuestCPUs.startupPage + 4096)
                    XCTAssertEqual(added[0].framesTaken, 1)
                    // 24 pages a CPU (a 64 KiB kernel stack and 32 KiB of IST
                    // stacks), and the PML4 they idle in.
                    XCTAssertEqual(added[1].end - added[1].start, (UInt64(cpus - 1) * 24 + 1) * 4096)
                    XCTAssertEqual(added[1].framesTaken, UInt64(cpus - 1) * 24 + 1)
                    XCTAssertTrue(guest.memoryMap.isUsableRAM(added[1].range))
                }
                XCTAssertEqual(stats.used, stats.kernelPageTables, "\(cpus) CPUs: the page tables alone are in use")
                free[cpus] = stats.free
            }
            // The LAPIC's page needs a page table of its own (and a PD) in the kernel region.
            let tablesForTheLAPIC: UInt64 = 2
            XCTAssertEqual(free[1]! - free[3]!, 1 + 2 * 24 + 1 + tablesForTheLAPIC)
        }
    }

    /// CPU 1 reads a page while the boot CPU unmaps it: once the unmap has
    /// returned (its shootdown acknowledged), CPU 1's next read faults, in
    /// every round; its TLB held the page before (it read it at least once).
    /// With one CPU the call is refused by name.
    func testAnUnmapReachesTheOtherCPUsTLBBeforeItReturns() throws {
        try onEachBackend { _ in
            let (guest, _) = try boot(cpus: 2)
            let free = try guest.call(ReadFrameStatistics()).free
            let rounds = CheckRemoteShootdown.roundLimit  // the most one reply carries
            let reply = try guest.call(CheckRemoteShootdown(rounds: rounds), timeout: .seconds(120))
            XCTAssertEqual(reply.staleReads, [UInt64](repeating: 0, count: Int(rounds)), "stale reads after each round's unmap")
            XCTAssertEqual(reply.readsBefore.count, Int(rounds))
            for (round, reads) in reply.readsBefore.enumerated() { XCTAssertGreaterThanOrEqual(reads, 1, "round \(round)") }
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, free, "every round's frame is back")
            XCTAssertEqual(try guest.call(Translate(virtual: CheckRemoteShootdown.page)), .notPresent(level: 4, lazy: false), "its tables freed as they emptied")

            let (alone, _) = try boot(cpus: 1)
            XCTAssertCallFails(try alone.call(CheckRemoteShootdown(rounds: 1)), .needsSeveralCPUs(online: 1))
            XCTAssertCallFails(try alone.call(MeasureSeveralCPUs(pages: 1, rounds: 1)), .needsSeveralCPUs(online: 1))
        }
    }

    /// Threads of one process, one a CPU, write their marks into the same 64
    /// lazy pages at once: each page faults in once (one frame, whichever
    /// thread got there first), every thread sees every other's writes,
    /// and every frame comes back. More threads than CPUs is refused.
    func testThreadsShareOneAddressSpaceAndEachPageFaultsInOnce() throws {
        try onEachBackend { _ in
            let cpus = 3
            let (guest, _) = try boot(cpus: cpus)
            for threads in 1...cpus {
                for round in 0..<5 {
                    let run = try guest.runProgram("threads-share", reportFaults: false, threads: threads)
                    let context = "\(threads) threads, round \(round)"
                    XCTAssertEqual(run.outcome, .exited(status: 0), context)
                    XCTAssertEqual(run.reallocations, 64, "the 64 shared pages, each once (the program touches no stack): \(context)")
                    XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, context)
                    XCTAssertEqual(run.faultThread, 0, context)
                }
            }
            XCTAssertCallFails(try guest.runProgram("threads-share", threads: cpus + 1), .needsSeveralCPUs(online: UInt64(cpus)))
        }
    }

    /// Threads that reserve, fault in, check and free pages of one address
    /// space at once, 300 times each: no thread sees another's page, every
    /// frame comes back, and the host's page-table check after the call
    /// (on by default) finds the tables sound.
    func testThreadsChangingOneAddressSpaceAtOnceLoseNothing() throws {
        try onEachBackend { _ in
            let (guest, _) = try boot(cpus: 2)
            for threads in 1...2 {
                let run = try guest.runProgram("threads-churn", reportFaults: false, threads: threads, timeout: .seconds(300))
                XCTAssertEqual(run.outcome, .exited(status: 0), "\(threads) threads")
                XCTAssertEqual(run.reallocations, UInt64(threads) * 300 * 4, "4 demand faults a round: \(threads) threads")
                XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, "\(threads) threads")
            }
            let violations = try guest.checkPageTables()
            XCTAssertEqual(violations.violations, [])
        }
    }

    /// Runs `program` (two threads: thread 1 uses a page while thread 0
    /// takes it away, then says so) 20 times: each time thread 1's next
    /// access after that faults with `reason` at the page and kills the
    /// process; no access succeeds after it (thread 1 would report the page).
    private func checkNoStaleAccess(_ program: String, faultsWith reason: FaultReason) throws {
        try onEachBackend { _ in
            let (guest, _) = try boot(cpus: 2)
            for round in 0..<20 {
                let run = try guest.runProgram(program, reportFaults: false, threads: 2)
                guard case .faulted(let faulted, let address, _, _) = run.outcome else {
                    XCTFail("\(program), round \(round): \(run.outcome), reports \(guest.programReports.map { String($0, radix: 16) })")
                    continue
                }
                XCTAssertEqual(faulted, reason, "\(program), round \(round)")
                XCTAssertEqual(address % 4096, 0, "\(program), round \(round)")
                XCTAssertEqual(run.faultThread, 1, "\(program), round \(round)")
                XCTAssertEqual(run.freeFramesAfter, run.freeFramesBefore, "\(program), round \(round)")
            }
            XCTAssertEqual(guest.programReports, [], "\(program): no stale access")
        }
    }

    /// Thread 1 reads a page in ring 3 while thread 0 frees it: once the free
    /// has returned (its shootdown acknowledged), thread 1's next read faults.
    func testAFreeReachesTheOtherThreadsTLBBeforeItReturns() throws {
        try checkNoStaleAccess("threads-stale", faultsWith: .notAllocated)
    }

    /// The same for a downgrade: thread 1 writes to a page while thread 0
    /// makes it read-only; once the protect has returned, its next write faults.
    func testADowngradeReachesTheOtherThreadsTLBBeforeItReturns() throws {
        try checkNoStaleAccess("threads-stale-write", faultsWith: .writeToReadOnly)
    }

    /// An exception on another CPU ends the run with that CPU's report: its
    /// number, its trap frame's backtrace (through its idle loop's work),
    /// and, on kvm, the registers of the vCPU that sent it. A CPU that is
    /// not online is refused by name.
    func testAnExceptionOnAnotherCPUNamesThatCPU() throws {
        try onEachBackend { backend in
            let (guest, ready) = try boot(cpus: 2)
            XCTAssertCallFails(try guest.call(RaiseException(.invalidOpcode, cpu: 2)), .needsSeveralCPUs(online: 2))
            XCTAssertThrowsError(try guest.call(RaiseException(.invalidOpcode, cpu: 1))) { error in
                guard let failure = error as? GuestFailure, case .exception(let report) = failure.kind else {
                    return XCTFail("not an exception: \(error)")
                }
                XCTAssertEqual(report.vector, 6)
                XCTAssertEqual(report.cpu, 1)
                XCTAssertTrue(failure.summary.hasPrefix("unhandled exception #UD invalid opcode (vector 6) on CPU 1 at RIP "), failure.summary)
                let frames = failure.symbolizedBacktrace()?.frames ?? []
                XCTAssertTrue(frames.contains { $0.function?.contains("kernelAPMain") == true || $0.function?.contains("kernel_ap_main") == true },
                              "the backtrace reaches CPU 1's entry: \(frames)")
                XCTAssertTrue(frames.contains { "\($0)".contains("KernelCallHandlers.swift") }, "where it was raised (perhaps inlined): \(frames)")
                if backend == .kvm {
                    // The vCPU that rang the report channel: CPU 1's, in its kernel stack, not the boot CPU's.
                    // CPU 1's stacks lie in its reservation, through the direct
                    // map; the boot CPU's in the kernel image.
                    let rsp = try? XCTUnwrap(failure.cpu).rsp
                    XCTAssertTrue((ready.directMapBase..<ready.kernelVirtualBase).contains(rsp ?? 0), "\(String(describing: failure.cpu))")
                }
            }
        }
    }

    /// In the smallest guest, memory holds the stacks of fewer CPUs than
    /// asked: the kernel starts those, says so, and the boot fails naming
    /// how many started.
    func testCPUsMemoryCannotHoldAreNamedNotStarted() throws {
        try onEachBackend { _ in
            var configuration = LiveGuest.Configuration(memorySize: 4 << 20)
            configuration.cpuCount = GuestCPUs.maximumCount
            let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: configuration)
            XCTAssertThrowsError(try guest.boot()) { error in
                guard let failure = error as? GuestFailure, case .cpusNotStarted(let asked, let started, let line) = failure.kind else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(asked, GuestCPUs.maximumCount)
                XCTAssertGreaterThan(started, 1)
                XCTAssertLessThan(started, UInt64(GuestCPUs.maximumCount))
                XCTAssertEqual(line, "guest kernel: memory holds the stacks of \(started) CPUs, not the 8 the ACPI tables list; the rest stay off")
            }
        }
    }

    /// A snapshot carries every vCPU, its local APIC and the irqchip: after
    /// a restore into the same VM, in a new VM from it, and from its file,
    /// CPU 1 runs a process's thread again, takes the shootdown IPIs, and
    /// the guest goes on as it stood. A snapshot goes on only with as many
    /// CPUs as it was taken with.
    func testASnapshotCarriesEveryCPU() throws {
        try requireKVM()
        var configuration = LiveGuest.Configuration()
        configuration.cpuCount = 2
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: configuration)
        let ready = try guest.boot()
        XCTAssertEqual(ready.cpuCount, 2)
        let snapshot = try guest.snapshot()
        XCTAssertEqual(snapshot.cpuCount, 2)
        let free = try guest.call(ReadFrameStatistics()).free

        /// Both CPUs at work: two threads share pages, then 20 rounds of shootdowns.
        func checkBothCPUsWork(_ guest: KVMGuest, _ context: String) throws {
            let run = try guest.runProgram("threads-share", reportFaults: false, threads: 2)
            XCTAssertEqual(run.outcome, .exited(status: 0), context)
            XCTAssertEqual(run.reallocations, 64, context)
            let reply = try guest.call(CheckRemoteShootdown(rounds: 20), timeout: .seconds(60))
            XCTAssertEqual(reply.staleReads, [UInt64](repeating: 0, count: 20), context)
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, free, context)
        }

        for round in 0..<3 {
            try checkBothCPUsWork(guest, "round \(round) in the VM it was taken in")
            XCTAssertGreaterThan(try guest.restore(snapshot), 0)
            XCTAssertEqual(try guest.cpuStates(), [snapshot.cpu(0), snapshot.cpu(1)], "round \(round)")
        }
        // A failure on CPU 1 pauses the others for good; a restore rewinds it,
        // and both CPUs go on.
        XCTAssertThrowsError(try guest.call(RaiseException(.invalidOpcode, cpu: 1))) { error in
            XCTAssertEqual((error as? GuestFailure)?.otherCPUs.map(\.index), [0])
        }
        try guest.restore(snapshot)
        try checkBothCPUsWork(guest, "after a failure on CPU 1, rewound")

        let copy = try KVMGuest(snapshot: snapshot, kernel: GuestImage.kernel())
        XCTAssertEqual(try copy.cpuStates(), [snapshot.cpu(0), snapshot.cpu(1)], "the snapshot's CPUs, whatever the configuration's count")
        try checkBothCPUsWork(copy, "a new VM from the snapshot")

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvmhost-smp-\(getpid()).snapshot").path
        defer { unlink(path) }
        try SnapshotFile.write(snapshot, to: path)
        let read = try SnapshotFile.read(from: path)
        XCTAssertEqual(read.cpuCount, 2)
        XCTAssertEqual([read.cpu(0), read.cpu(1)], [snapshot.cpu(0), snapshot.cpu(1)])
        try checkBothCPUsWork(try KVMGuest(snapshot: read, kernel: GuestImage.kernel()), "a new VM from the file")

        configuration.cpuCount = 1
        let one = try KVMGuest(kernel: GuestImage.kernel(), configuration: configuration)
        _ = try one.boot()
        XCTAssertThrowsError(try one.restore(snapshot)) { XCTAssertEqual($0 as? SnapshotError, .differentCPUCount(snapshot: 2, guest: 1)) }
        let single = try one.snapshot()
        XCTAssertEqual(single.cpuCount, 1)
        XCTAssertThrowsError(try guest.restore(single)) { XCTAssertEqual($0 as? SnapshotError, .differentCPUCount(snapshot: 1, guest: 2)) }
    }
}
