import Foundation
import XCTest

/// WireCodeGenerator, run as the build runs it, on declarations written for
/// each rule: what it writes for good ones, and the file, line and reason it
/// refuses bad ones with.
final class WireCodeGeneratorTests: XCTestCase {
    private func generate(_ source: String) throws -> (status: Int32, output: String, stderr: String) {
        let generator = try KVMHostBinary(product: "WireCodeGenerator")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try source.write(to: directory.appendingPathComponent("Calls.swift"), atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("WireCoding.swift")
        let result = try generator.run([output.path, directory.path])
        return (result.status, (try? String(contentsOf: output, encoding: .utf8)) ?? "", result.stderr)
    }

    /// The checked-in coding is what the generator writes from today's
    /// declarations: a change to a Wire type without
    /// scripts/generate-wire-coding fails here.
    func testTheCheckedInCodingIsUpToDate() throws {
        let generator = try KVMHostBinary(product: "WireCodeGenerator")
        let guest = KVMHostBinary.packageRoot.appendingPathComponent("Sources/Guest")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("wire-coding-\(UUID().uuidString).swift")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try generator.run([output.path, guest.appendingPathComponent("Protocol").path, guest.appendingPathComponent("Memory").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let checkedIn = try String(contentsOf: guest.appendingPathComponent("Protocol/WireCoding.generated.swift"), encoding: .utf8)
        XCTAssertTrue(try String(contentsOf: output, encoding: .utf8) == checkedIn,
                      "Sources/Guest/Protocol/WireCoding.generated.swift is stale: run scripts/generate-wire-coding")
    }

    func testCallsGetCodesCodingAndTheirDirectives() throws {
        let (status, output, stderr) = try generate("""
            // wire: call 2
            public struct Pong: GuestCall {
                public typealias Reply = Done
                public var count: UInt64
            }
            /// Docs come first.
            // wire: call 1
            public struct Ping: GuestCall {
                // wire: level in 1...4
                public enum Reply: Wire { case shallow, deep(level: Int, "text") }
                // wire: last in first...UInt64.max
                public var first: UInt64, last: UInt64
                public var flag: Bool
                static let limit = 3
                public var computed: UInt64 { first }
            }
            """)
        XCTAssertEqual(status, 0, stderr)
        for line in ["case ping = 1", "case pong = 2", "case .ping: visitor.visit(Ping.self)",
                     "self.last = try decoder.word(in: first...UInt64.max)", "self.flag = try decoder.decode()",
                     "case 2: self = .deep(level: .init(try decoder.word(in: 1...4)), try decoder.decode())",
                     "default: throw .invalidValue(index: decoder.index - 1, value: tag)",
                     "extension Ping { public static var code: CallCode { .ping } }", "public let wireFormatFingerprint: UInt64 = 0x"] {
            XCTAssertTrue(output.contains(line), "missing: \(line)\n\(output)")
        }
        XCTAssertFalse(output.contains("computed"), "a computed property is not on the wire")
        XCTAssertFalse(output.contains("limit"), "a static is not on the wire")
    }

    func testEachBrokenRuleIsRefusedWithItsPlace() throws {
        let cases: [(source: String, message: String)] = [
            ("// wire: call 1\nstruct A: GuestCall {\n    var x: UInt64\n    init(from decoder: inout WireDecoder) throws(WireError) {}\n}",
             "Calls.swift:2: error: A writes its own init(from:)"),
            ("// wire: call 1\nstruct A: GuestCall {}\n// wire: call 1\nstruct B: GuestCall {}", "both have call 1"),
            ("// wire: call 1\nstruct A: GuestCall {}\n// wire: call 3\nstruct B: GuestCall {}", "B has 3, where 2 is next"),
            ("struct A: GuestCall {}", "Calls.swift:1: error: A needs one `// wire: call N` directive"),
            ("struct A: Wire {\n#if GUEST_KERNEL\n    var x: UInt64\n#endif\n}", "Calls.swift:3: error: A's members differ between the kernel and the host"),
            ("struct A: Wire {\n    // wire: x below 3\n    var x: UInt64\n}", "Calls.swift:3: error: not a wire directive: `x below 3`"),
            ("struct A: Wire {\n    // wire: x in 0...1\n    var x: Frame\n}", "only an integer or Bool field takes a directive"),
            ("enum A: UInt64, Wire {\n    case a = 1, b\n}", "Calls.swift:2: error: A.b needs an explicit raw value"),
            ("struct A: Wire {\n    var x = 0\n}", "A's stored properties need written types"),
            ("struct A: Wire {\n    var x: UInt64\n    // wire: y in 0...1\n    var z: UInt64\n}", "Calls.swift:4: error: `y in 0...1` names no field of A"),
            ("struct A: WirePrimitive {}", "A is a WirePrimitive but writes no init(from:)"),
        ]
        for (source, message) in cases {
            let (status, output, stderr) = try generate(source)
            XCTAssertEqual(status, 1, source)
            XCTAssertTrue(stderr.contains(message), "\(source)\nexpected: \(message)\ngot: \(stderr)")
            XCTAssertEqual(output, "", "nothing is written for a refused protocol")
        }
    }
}
