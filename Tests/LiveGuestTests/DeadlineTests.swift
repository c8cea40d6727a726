import Foundation
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// A deadline is a deadline for the whole call, however many records the
/// guest sends on the way; a stop request ends any run at once; no
/// `Duration` makes the host trap.
final class DeadlineTests: XCTestCase {
    let timeout: Duration = .seconds(1)

    /// Every record kind a guest can send without ending its run, each one
    /// valid, so that the host takes it and keeps running the guest.
    let chattyRecords: [(name: String, record: [UInt8])] = [
        ("ready", HostileRecords.ready()),
        ("await command", HostileRecords.record(kind: RecordKind.awaitCommand, words: [0x300000, 4096])),
        ("reply", HostileRecords.record(kind: RecordKind.reply, words: [1, 0])),
        ("console", HostileRecords.record(kind: RecordKind.console, text: Array("chatter\n".utf8))),
        ("page trap", HostileRecords.record(kind: .pageTrap, PageTrapRecord(address: 0, errorCode: 0, rip: 0, faultReason: nil))),
        ("program report", HostileRecords.record(kind: RecordKind.programReport, words: [7])),
    ]

    /// Runs `body`, which must fail with a timeout of `timeout`, and returns how long it took.
    private func expectTimeout(_ what: String, _ body: () throws -> Any) -> Duration {
        let started = ContinuousClock.now
        do {
            _ = try body()
            XCTFail("\(what): the guest was not stopped")
        } catch let failure as GuestFailure {
            XCTAssertEqual(failure.kind, .timeout(timeout), what)
        } catch {
            XCTFail("\(what): \(error)")
        }
        return ContinuousClock.now - started
    }

    func testAFloodOfEachRecordKindEndsAtTheDeadline() throws {
        try requireKVM()
        for (name, record) in chattyRecords {
            let flood = HostileRecords.flood(record)
            let guest = try LiveGuest(kernel: flood.kernel, configuration: .init(memorySize: 8 << 20))
            let elapsed = expectTimeout("a flood of \(name) records") { try guest.runToExit(timeout: timeout) }
            XCTAssertGreaterThanOrEqual(elapsed, timeout, name)
            XCTAssertLessThanOrEqual(elapsed, timeout * 1.1, "a flood of \(name) records: the deadline held within 10%")
            print("a flood of \(name) records, timeout \(timeout): stopped after \(elapsed)")
        }
    }

    /// One record every 0.05-0.1 s: each came well inside the timeout, and
    /// the run still ends at the deadline.
    func testSlowChatterEndsAtTheDeadline() throws {
        try requireKVM()
        for (name, record) in chattyRecords where ["ready", "await command", "reply"].contains(name) {
            let flood = HostileRecords.flood(record, delay: 60_000)
            let guest = try LiveGuest(kernel: flood.kernel, configuration: .init(memorySize: 8 << 20))
            let elapsed = expectTimeout("\(name) records now and then") { try guest.runToExit(timeout: timeout) }
            XCTAssertLessThanOrEqual(elapsed, timeout * 1.1, name)
        }
    }

    /// `call` waits for the guest to take the command and then for the
    /// reply: both inside one deadline. This guest asks for a command after
    /// a while, then talks on the console and never replies.
    func testExecuteHasOneDeadlineForTakingAndReplying() throws {
        try requireKVM()
        let awaitAddress: UInt32 = 0x200000, consoleAddress: UInt32 = 0x201000
        var code = Code32()
        code.delay(iterations: 300_000)
        code.sendRecord(at: awaitAddress)
        let loop = code.bytes.count
        code.sendRecord(at: consoleAddress)
        code.delay(iterations: 20_000)
        code.jumpBack(to: loop)
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments += [
            .init(physicalAddress: UInt64(awaitAddress), bytes: HostileRecords.record(kind: RecordKind.awaitCommand, words: [0x300000, 4096])),
            .init(physicalAddress: UInt64(consoleAddress), bytes: HostileRecords.record(kind: RecordKind.console, text: Array(".".utf8))),
        ]
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(memorySize: 8 << 20))
        let elapsed = expectTimeout("call") { try guest.call(Echo([1]), timeout: timeout) }
        XCTAssertLessThanOrEqual(elapsed, timeout * 1.1)
        XCTAssertTrue(guest.serial.text.hasPrefix("."), "the guest took the command and went on talking")
    }

    /// A guest that exits at once, under timeouts too large for any clock.
    func testHugeTimeoutsMeanNoLimitAndNeverTrap() throws {
        try requireKVM()
        var code = Code32()
        code.exit(42)
        let kernel = ELFBuilder.guest(code: code.bytes).build()
        for huge in [Duration.seconds(Int64.max), Duration(secondsComponent: Int64.max, attosecondsComponent: 999_999_999_999_999_999),
                     .seconds(1e10), .seconds(Deadline.unlimitedSeconds), .seconds(Deadline.unlimitedSeconds - 1)] {
            let guest = try LiveGuest(kernel: kernel, configuration: .init(memorySize: 4 << 20))
            XCTAssertEqual(try guest.runToExit(timeout: huge), 42, "\(huge)")
        }
        XCTAssertNil(Deadline(after: .seconds(Int64.max)).instant)
        XCTAssertNotNil(Deadline(after: .seconds(Deadline.unlimitedSeconds - 1)).remainingNanoseconds)
        // Zero and negative timeouts end the run before the guest runs.
        let guest = try LiveGuest(kernel: kernel, configuration: .init(memorySize: 4 << 20))
        for nothing in [Duration.zero, .seconds(-5)] {
            XCTAssertThrowsError(try guest.runToExit(timeout: nothing)) {
                XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(nothing))
            }
        }
        XCTAssertNil(guest.exitStatus, "the guest never ran")
    }

    /// The stop handle, from another thread, ends a guest spinning with no
    /// deadline: what Ctrl-A x at a terminal does.
    func testStopHandleEndsABusyGuestWithNoDeadline() throws {
        try requireKVM()
        var code = Code32()
        code.jumpBack(to: 0)
        let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(memorySize: 4 << 20))
        let stop = guest.stopHandle
        let started = ContinuousClock.now
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { stop.requestStop() }
        XCTAssertThrowsError(try guest.runToExit(timeout: Deadline.never.timeout)) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .stoppedByUser)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(200))
        XCTAssertLessThan(elapsed, .milliseconds(400), "stopped within 200 ms of the request")
        XCTAssertThrowsError(try guest.runToExit(timeout: .seconds(5)), "the stop is sticky") {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .stoppedByUser)
        }
    }
}
