import Foundation
import GuestImage
import KVMHost
import TestSupport
import XCTest

/// `kvmhost boot --coverage FILE`: the profile of a whole session, written
/// however the session ends, and taken by the toolchain's llvm-profdata.
final class CoverageOptionTests: XCTestCase {
    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "kvmhost-\(name)-\(UUID().uuidString).profraw"
    }

    /// llvm-profdata's own reading of the profile: its function count.
    private func functionsWithCounts(_ path: String) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try XCTUnwrap(ToolchainTool.path(of: "llvm-profdata")))
        process.arguments = ["show", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("Total functions:") })
        return try XCTUnwrap(Int(line.split(separator: " ").last!))
    }

    func testAPipedSessionWritesItsProfile() throws {
        try requireKVM()
        let path = temporaryPath("session")
        defer { unlink(path) }
        let result = try KVMHostBinary().run(["--coverage", path], input: "mem\nquit\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertGreaterThan(try functionsWithCounts(path), 500, "every instrumented function of the kernel has a record")
    }

    /// A kernel exception ends the run with 123, and the profile is still written.
    func testAFailingSessionStillWritesItsProfile() throws {
        try requireKVM()
        let path = temporaryPath("fault")
        defer { unlink(path) }
        let result = try KVMHostBinary().run(["--coverage", path], input: "fault\n")
        XCTAssertEqual(result.status, 123, result.stderr)
        XCTAssertTrue(result.stderr.contains("#PF page fault"), result.stderr)
        XCTAssertGreaterThan(try functionsWithCounts(path), 500)
    }

    /// A kernel not built for coverage is refused before it runs, as a bad image.
    func testAKernelWithoutAProfileIsABadImage() throws {
        try requireKVM()
        let path = temporaryPath("plain")
        let result = try KVMHostBinary().run(["--coverage", path, "--kernel", GuestImage.plainKernelURL.path, "--no-monitor"])
        XCTAssertEqual(result.status, 65)
        XCTAssertEqual(result.stderr, "kvmhost: --coverage: " + CoverageError.notInstrumented.description + "\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        let unwritable = try KVMHostBinary().run(["--coverage", "/nonexistent/dir/x.profraw", "--no-monitor"])
        XCTAssertEqual(unwritable.status, 74, unwritable.stderr)
        XCTAssertTrue(unwritable.stderr.hasPrefix("kvmhost: --coverage: cannot write the coverage profile /nonexistent/dir/x.profraw: "),
                      unwritable.stderr)
    }
}
