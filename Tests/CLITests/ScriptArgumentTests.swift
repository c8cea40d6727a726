import Foundation
import XCTest

/// Every script and tool refuses bad arguments with a usage line and 64,
/// instead of succeeding while doing nothing.
final class ScriptArgumentTests: XCTestCase {
    func testScriptsRefuseBadArguments() throws {
        let cases: [(String, [String])] = [
            ("hostile", ["abc"]), ("hostile", ["-3"]), ("hostile", ["0"]), ("hostile", ["5", "x"]), ("hostile", ["1", "2", "3"]),
            ("fuzz", ["abc"]), ("fuzz", ["-5"]), ("fuzz", ["0"]), ("fuzz", ["--runs"]), ("fuzz", ["--runs", "x"]),
            ("fuzz", ["--runs", "10", "no-such-target"]),
            ("sanitize", ["memory"]),
            ("coverage", ["--bogus"]), ("coverage", [".build/x", "extra"]),
            ("test-shard", ["3", "2"]), ("test-shard", ["a", "b"]), ("test-shard", []),
            ("ci-container", ["bad"]), ("ci-container", ["lower=1"]), ("ci-container", ["A=1", "--rm"]),
            ("check-warnings", []), ("check-warnings", ["/nonexistent/build.log"]),
            ("check-docs", ["--bogus"]),
        ]
        for (script, arguments) in cases {
            let result = try KVMHostBinary.runScript(script, arguments)
            XCTAssertEqual(result.status, 64, "scripts/\(script) \(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("usage: scripts/\(script)"), "scripts/\(script) \(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "scripts/\(script) \(arguments) did nothing")
        }
    }

    func testKVMStressOptionsHaveRealNames() throws {
        let stress = try KVMHostBinary(product: "kvmstress")
        let help = try stress.run(["--help"])
        XCTAssertTrue(help.stdout.contains("--resident-slack <MiB>"), help.stdout)
        XCTAssertFalse(help.stdout.contains("mi-b"), help.stdout)
        XCTAssertEqual(try stress.run(["--resident-slack-mi-b", "4"]).status, 64)
        let negative = try stress.run(["--cycles=-1"])
        XCTAssertEqual(negative.status, 64)
        XCTAssertTrue(negative.stderr.contains("--cycles must be 0 or more; got -1"), negative.stderr)
        XCTAssertEqual(try stress.run(["--resident-slack", "8", "--cycles", "0", "--soak-seconds", "0"]).status, 0)
    }
}
