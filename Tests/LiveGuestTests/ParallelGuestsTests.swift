import Foundation
import GuestImage
import KVMHost
import Synchronization
import TestSupport
import XCTest

/// Several VMs at once in one process, each on a thread of its own with its
/// own vCPU. Nothing is shared between them but the kernel image's bytes, so
/// each must see exactly what it would see alone.
final class ParallelGuestsTests: XCTestCase {
    /// What one guest saw, run by run.
    struct Outcome: Sendable {
        var index: Int
        var totalFrames: UInt64 = 0
        var echoed: [UInt64] = []
        /// Echo rounds answered after the spinning guest was stopped.
        var roundsAfterStop: UInt64 = 0
        /// How long the spinning guest ran before its deadline stopped it.
        var stoppedAfter: Duration = .zero
        /// Per program run: demand faults, and free frames before and after.
        var reallocations: [UInt64] = []
        var freeFrames: [[UInt64]] = []
        var exitStatus: UInt32?
        var failure: String?
    }

    /// Runs `body(index)` on `count` threads that start together.
    private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Outcome) -> [Outcome] {
        let outcomes = Mutex<[Outcome]>([])
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            let thread = Thread {
                start.wait()
                let outcome = body(index)
                outcomes.withLock { $0.append(outcome) }
                done.leave()
            }
            thread.start()
        }
        for _ in 0..<count { start.signal() }
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the threads did not finish")
        return outcomes.withLock { $0 }.sorted { $0.index < $1.index }
    }

    func testGuestsOnSeveralThreadsEachSeeOnlyTheirOwnMachine() throws {
        try requireKVM()
        let kernel = try GuestImage.kernel()
        let outcomes = onThreads(4) { index in
            var outcome = Outcome(index: index)
            do {
                // A different memory size each, so that a crossed wire shows.
                let guest = try LiveGuest(kernel: kernel, configuration: .init(memorySize: (32 + 16 * index) << 20))
                _ = try guest.boot()
                outcome.totalFrames = try guest.call(ReadFrameStatistics()).total
                outcome.echoed = try guest.call(Echo([UInt64(index), 0xC0FFEE])).values
                for _ in 0..<3 {
                    let run = try guest.runProgram("lazy-touch")
                    outcome.reallocations.append(run.reallocations)
                    outcome.freeFrames.append([run.freeFramesBefore, run.freeFramesAfter])
                }
                outcome.exitStatus = try guest.shutdown(status: UInt32(10 + index))
            } catch {
                outcome.failure = "\(error)"
            }
            return outcome
        }
        XCTAssertEqual(outcomes.count, 4)
        for outcome in outcomes {
            XCTAssertNil(outcome.failure, "guest \(outcome.index)")
            XCTAssertEqual(outcome.totalFrames, UInt64((32 + 16 * outcome.index) << 20) >> 12, "guest \(outcome.index)")
            XCTAssertEqual(outcome.echoed, [UInt64(outcome.index), 0xC0FFEE])
            XCTAssertEqual(outcome.reallocations, [10, 10, 10], "ten demand faults in each run")
            XCTAssertEqual(outcome.freeFrames.count, 3)
            for frames in outcome.freeFrames { XCTAssertEqual(frames[1], frames[0], "guest \(outcome.index): every run gave its frames back") }
            XCTAssertEqual(Set(outcome.freeFrames.map { $0[0] }).count, 1, "guest \(outcome.index): each run started from the same count")
            XCTAssertEqual(outcome.exitStatus, UInt32(10 + outcome.index))
        }
    }

    /// Each vCPU thread has its own watchdog: one guest's deadline stops that
    /// guest and no other.
    func testOneGuestsDeadlineStopsOnlyThatGuest() throws {
        try requireKVM()
        let kernel = try GuestImage.kernel()
        let spinnerStopped = Flag()
        let outcomes = onThreads(3) { index in
            var outcome = Outcome(index: index)
            do {
                let guest = try LiveGuest(kernel: kernel)
                _ = try guest.boot()
                if index == 0 {
                    let started = ContinuousClock.now
                    defer {
                        outcome.stoppedAfter = ContinuousClock.now - started
                        spinnerStopped.set()
                    }
                    _ = try guest.call(Spin(), timeout: .milliseconds(300))
                    outcome.failure = "the spinning guest replied"
                } else {
                    // Busy from before the spinner's deadline until 20 rounds after it.
                    var round: UInt64 = 0
                    while outcome.roundsAfterStop < 20 {
                        let stopped = spinnerStopped.isSet
                        outcome.echoed = try guest.call(Echo([round])).values
                        // Checked here, asserted on the test's thread below.
                        if outcome.echoed != [round] { outcome.failure = "round \(round) echoed \(outcome.echoed)" }
                        if stopped { outcome.roundsAfterStop += 1 }
                        round += 1
                        if round > 100_000 { outcome.failure = "the spinner was never stopped"; break }
                    }
                    _ = try guest.runProgram("lazy-touch")
                    outcome.exitStatus = try guest.shutdown()
                }
            } catch let failure as GuestFailure {
                if case .timeout = failure.kind, index == 0 { outcome.exitStatus = nil } else { outcome.failure = "\(failure)" }
            } catch {
                outcome.failure = "\(error)"
            }
            return outcome
        }
        XCTAssertEqual(outcomes.map(\.failure), [nil, nil, nil])
        XCTAssertEqual(outcomes.map(\.exitStatus), [nil, 0, 0])
        XCTAssertGreaterThanOrEqual(outcomes[0].stoppedAfter, .milliseconds(300), "not before its own deadline")
        XCTAssertLessThan(outcomes[0].stoppedAfter, .milliseconds(1300), "and within a second of it")
        XCTAssertEqual(outcomes[1].roundsAfterStop, 20, "guest 1 answered after the spinner stopped")
        XCTAssertEqual(outcomes[2].roundsAfterStop, 20, "guest 2 answered after the spinner stopped")
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
