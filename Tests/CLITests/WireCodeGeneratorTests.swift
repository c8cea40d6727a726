import Foundation
import XCTest

/// WireCodeGenerator, run as the build runs it, on declarations written for
/// each rule: what it writes for good ones, and the file, line and reason it
/// refuses bad ones with.
final class WireCodeGeneratorTests: XCTestCase {
    /// The built generator (a dependency of this target, so it is always
    /// built): missing is a failure, not a skip.
    private func generatorBinary() throws -> KVMHostBinary {
        do { return try KVMHostBinary(product: "WireCodeGenerator") } catch {
            XCTFail("WireCodeGenerator was not built beside the tests: \(error)")
            throw error
        }
    }

    private func generate(_ source: String) throws -> (status: Int32, output: String, stderr: String) {
        let generator = try generatorBinary()
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
        let generator = try generatorBinary()
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
                // wire: small in 0...300
                public var small: UInt8
                // wire: flag2 in 0...5
                public var flag2: Bool
            }
            // Read as written: a brace in a string, a raw string ending in a
            // backslash, `<<` between two declarations, a header and a case
            // list over two lines, a stored property with an observer.
            public struct Odd<Element: Wire>: Wire,
                Sendable {
                static let label = "\\(d["{"])"
                static let raw = #"\\"#
                public var mask: UInt64 = 1 << 3, shift: UInt64 = 0
                public var observed: UInt64 = 0 { didSet { } }
                public var watched: UInt64 { willSet { } }
                public var element: Element
            }
            public enum Two: Wire {
                case one,
                     two(UInt64)
            }
            """)
        XCTAssertEqual(status, 0, stderr)
        for line in ["case ping = 1", "case pong = 2", "case .ping: visitor.visit(Ping.self)",
                     "self.last = try decoder.word(from: first, through: UInt64.max, as: UInt64.self)", "self.flag = try decoder.decode()",
                     "case 2: self = .deep(level: try decoder.word(from: 1, through: 4, as: Int.self), try decoder.decode())",
                     "default: throw .invalidValue(index: decoder.index - 1, value: tag)",
                     "extension Ping { public static var code: CallCode { .ping } }", "public let wireFormatFingerprint: UInt64 = 0x",
                     // A range the field's type cannot hold, or a Bool's past 1, refuses the word instead of trapping.
                     "self.small = try decoder.word(from: 0, through: 300, as: UInt8.self)",
                     "self.flag2 = try decoder.word(from: 0, through: min(5, 1), as: UInt64.self) == 1",
                     "extension Odd {", "self.mask = try decoder.word()", "self.shift = try decoder.word()",
                     "self.observed = try decoder.word()", "self.watched = try decoder.word()", "self.element = try decoder.decode()",
                     "case 1: self = .one", "case 2: self = .two(try decoder.word())"] {
            XCTAssertTrue(output.contains(line), "missing: \(line)\n\(output)")
        }
        XCTAssertFalse(output.contains("self.computed"), "a computed property is not on the wire")
        XCTAssertFalse(output.contains("limit"), "a static is not on the wire")
    }

    /// A path that is not a directory of Swift sources is refused, never read
    /// as an empty protocol; CRLF sources read as LF ones.
    func testPathsAndLineEndings() throws {
        let generator = try generatorBinary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.swift").path
        for (path, message) in [("/nonexistent", "/nonexistent:0: error: not a directory"),
                                ("/dev/null", "/dev/null:0: error: not a directory"),
                                (directory.path, "holds no Swift source")] {
            let result = try generator.run([output, path])
            XCTAssertEqual(result.status, 1, path)
            XCTAssertTrue(result.stderr.contains(message), "\(path): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing written for \(path)")
        }
        try "// wire: call 1\r\npublic struct Ping: GuestCall {\r\n    public var n: UInt64\r\n}\r\n// x\r\npublic struct S: Wire {\r\n    public var a: UInt64\r\n}\r\n"
            .write(to: directory.appendingPathComponent("CRLF.swift"), atomically: true, encoding: .utf8)
        let result = try generator.run([output, directory.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        XCTAssertTrue(text.contains("self.n = try decoder.word()") && text.contains("self.a = try decoder.word()"), text)
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
            ("struct A: Wire {\n    var x = 0\n}", "A's stored properties each need a written type"),
            ("struct A: Wire {\n    var x: UInt64\n    // wire: y in 0...1\n    var z: UInt64\n}", "Calls.swift:4: error: `y in 0...1` stands above z, not y"),
            ("struct A: WirePrimitive {}", "A is a WirePrimitive but writes no init(from:)"),
            ("struct A: Wire {\n    // wire: b in 0...3\n    var a: UInt8\n    var b: UInt8\n}", "Calls.swift:3: error: `b in 0...3` stands above a, not b"),
            ("struct A: Wire {\n    lazy var a: UInt64 = 5\n}", "Calls.swift:2: error: A.a is lazy: a decoder cannot set it"),
            ("enum A: Int, Wire {\n    case a = -1, b = 1\n}", "A's raw values are signed"),
            ("// wire: call 1\nstruct A: Wire {}", "A has a `wire: call` directive but is not a GuestCall"),
            ("struct A: Wire {\n    // wire: a in 3\n    var a: UInt64\n}", "`a in 3`: a range is LOWER...UPPER"),
        ]
        for (source, message) in cases {
            let (status, output, stderr) = try generate(source)
            XCTAssertEqual(status, 1, source)
            XCTAssertTrue(stderr.contains(message), "\(source)\nexpected: \(message)\ngot: \(stderr)")
            XCTAssertEqual(output, "", "nothing is written for a refused protocol")
        }
    }
}
