import GuestImage
import KVMHost
import TestSupport
import XCTest

/// Runs one in-kernel test case in a guest of its own, and turns each failed
/// expectation into an XCTest failure at the guest's source file and line.
enum GuestCaseRunner {
    struct Outcome {
        var reply: RunGuestTest.Reply
        var failures: [AssertionReport]
        /// Free frames before the case ran, and after.
        var freeFrames: (before: UInt64, after: UInt64)
    }

    /// Takes a fresh, ready guest on each selected backend (`ReadyGuests`:
    /// from one snapshot on kvm) and runs case `name`
    /// there; every case must leave the frame allocator as it found it, and
    /// the kernel able to shut down.
    static func run(_ name: String, in testCase: GuestBehaviourTestCase, file: StaticString = #filePath, line: UInt = #line) throws {
        try testCase.onEachBackend { backend in
            let outcome = try run(name, on: backend)
            record(outcome) { description, file, line in
                testCase.recordFailure(withDescription: description, inFile: file, atLine: line, expected: true)
            }
            XCTAssertEqual(outcome.reply.failures, UInt64(outcome.failures.count), "failures counted and failures sent", file: file, line: line)
            XCTAssertGreaterThan(outcome.reply.expectations, 0, "\(name) checked nothing", file: file, line: line)
            XCTAssertEqual(outcome.freeFrames.after, outcome.freeFrames.before, "\(name) left frames allocated", file: file, line: line)
        }
    }

    static func run(_ name: String, on backend: Backend, cpu: CPUSelection = CPUSelection()) throws -> Outcome {
        var configuration = LiveGuest.Configuration(backend: backend)
        configuration.cpu = cpu
        let guest = try ReadyGuests.guest(configuration: configuration).0
        let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
        guard let index = names.firstIndex(of: name) else {
            throw MissingGuestCase(name: name, available: names)
        }
        let before = try guest.call(ReadFrameStatistics()).free
        let reply = try guest.call(RunGuestTest(index: UInt64(index)), timeout: .seconds(120))
        let after = try guest.call(ReadFrameStatistics()).free
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success, "the kernel goes on after \(name)")
        return Outcome(reply: reply, failures: guest.expectationFailures, freeFrames: (before, after))
    }

    /// Hands each failed expectation to `recordFailure` as XCTest wants it:
    /// a description, the guest's source file and its line.
    static func record(_ outcome: Outcome, _ recordFailure: (String, String, Int) -> Void) {
        for failure in outcome.failures {
            recordFailure(describe(failure), failure.file, Int(failure.line))
        }
    }

    static func describe(_ failure: AssertionReport) -> String {
        "guest expectation failed: \(failure.condition)"
            + (failure.values.isEmpty ? "" : " (values " + failure.values.map { "0x" + String($0, radix: 16) }.joined(separator: ", ") + ")")
    }
}

/// The kernel's table has no case by this name.
struct MissingGuestCase: Error, CustomStringConvertible {
    var name: String
    var available: [String]
    var description: String { "the guest kernel has no test case named \(name); it has \(available)" }
}
