import GuestImage
import KVMHost
import TestSupport
import XCTest

/// The in-kernel test machinery itself: names, counts, and where a failed
/// expectation is shown.
final class GuestTestMechanismTests: GuestBehaviourTestCase {
    /// Every case in the kernel's table has its generated method, in the same
    /// order, and nothing else does.
    func testEveryKernelCaseHasAMethod() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
            XCTAssertEqual(names.filter { !$0.hasPrefix("mechanism_") }, GuestKernelTests.generatedNames)
            XCTAssertGreaterThanOrEqual(GuestKernelTests.generatedNames.count, 25)
            XCTAssertCallFails(try guest.call(RunGuestTest(index: UInt64(names.count))), .noSuchTest(index: UInt64(names.count)))
        }
    }

    /// A case whose second of three expectations fails: the failure arrives
    /// with the guest's file and line and both values, the case goes on, and
    /// XCTest is told of it at that file and line.
    func testAFailedExpectationShowsAtTheGuestSourceLine() throws {
        try onEachBackend { backend in
            let outcome = try GuestCaseRunner.run("mechanism_failingExpectation", on: backend)
            XCTAssertEqual(outcome.reply, .init(expectations: 3, failures: 1))
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Sources/Guest/KernelTests/MechanismCases.swift").standardizedFileURL
            let lines = try String(contentsOf: source, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            let line = try XCTUnwrap(lines.firstIndex { $0.contains("\"a failure on purpose\"") }) + 1
            XCTAssertEqual(outcome.failures.count, 1)
            let failure = try XCTUnwrap(outcome.failures.first)
            XCTAssertEqual(failure.condition, "a failure on purpose")
            XCTAssertEqual(URL(fileURLWithPath: failure.file).standardizedFileURL.path, source.path)
            XCTAssertEqual(failure.line, UInt64(line))
            XCTAssertEqual(failure.values, [0x1234, 0x5678])

            // What XCTest is given for it: the guest's file and line.
            var recorded: [(description: String, file: String, line: Int)] = []
            GuestCaseRunner.record(outcome) { recorded.append(($0, $1, $2)) }
            XCTAssertEqual(recorded.count, 1)
            XCTAssertEqual(recorded.first?.file, failure.file)
            XCTAssertEqual(recorded.first?.line, line)
            XCTAssertEqual(recorded.first?.description, "guest expectation failed: a failure on purpose (values 0x1234, 0x5678)")
        }
    }
}
