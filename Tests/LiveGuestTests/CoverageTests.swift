import Foundation
import GuestImage
import KVMHost
import TestSupport
import XCTest

/// Coverage of the kernel from a live run: the profile the host reads out of
/// guest memory is one the toolchain's own llvm-profdata and llvm-cov take,
/// and it says which kernel functions ran, as many times as they ran.
final class CoverageTests: XCTestCase {
    private func tool(_ name: String) throws -> String {
        try XCTUnwrap(ToolchainTool.path(of: name), "\(name) is not beside swiftc or on PATH")
    }

    /// Runs `arguments` and returns its standard output; fails the test on a non-zero exit.
    private func run(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(arguments.joined(separator: " ")): \(message)")
        return data
    }

    /// Execution counts of the kernel's functions, by mangled name, as
    /// `llvm-cov export` reads them from `profile` and guest-coverage.elf.
    private func functionCounts(_ profile: [UInt8]) throws -> [String: UInt64] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coverage-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let raw = directory.appendingPathComponent("guest.profraw").path
        let merged = directory.appendingPathComponent("guest.profdata").path
        try Data(profile).write(to: URL(fileURLWithPath: raw))
        _ = try run([try tool("llvm-profdata"), "merge", "-o", merged, raw])
        let export = try run([try tool("llvm-cov"), "export", "-instr-profile", merged, GuestImage.coverageKernelURL.path])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: export) as? [String: Any])
        let data = try XCTUnwrap((json["data"] as? [[String: Any]])?.first)
        let functions = try XCTUnwrap(data["functions"] as? [[String: Any]])
        var counts: [String: UInt64] = [:]
        for function in functions {
            guard let name = function["name"] as? String, let count = function["count"] as? NSNumber else { continue }
            counts[name] = count.uint64Value
        }
        return counts
    }

    private func count(of needle: String, in counts: [String: UInt64]) throws -> UInt64 {
        let matches = counts.filter { $0.key.contains(needle) }
        XCTAssertEqual(matches.count, 1, "exactly one kernel function's name holds \(needle): \(matches.keys.sorted())")
        return try XCTUnwrap(matches.first?.value)
    }

    /// Echo's handler runs once a call, ReadMemory's never: llvm-cov says so.
    func testTheProfileCountsWhatTheKernelRan() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.coverageKernel())
        XCTAssertNotNil(guest.profileSections)
        _ = try guest.boot()
        for round: UInt64 in 1...3 { XCTAssertEqual(try guest.call(Echo([round])).values, [round]) }
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
        let counts = try functionCounts(try guest.coverageProfile())
        XCTAssertEqual(try count(of: "4EchoV7perform", in: counts), 3, "Echo.perform ran once a call")
        XCTAssertEqual(try count(of: "10ReadMemoryV7perform", in: counts), 0, "ReadMemory.perform never ran")
        XCTAssertEqual(try count(of: "5kmain", in: counts), 1, "the kernel booted once")
    }

    /// A profile taken between calls holds what ran so far, and the next one more.
    func testProfilesBetweenCallsGrow() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.coverageKernel())
        _ = try guest.boot()
        _ = try guest.call(Echo([]))
        let first = try count(of: "4EchoV7perform", in: try functionCounts(try guest.coverageProfile()))
        _ = try guest.call(Echo([]))
        _ = try guest.call(Echo([]))
        let second = try count(of: "4EchoV7perform", in: try functionCounts(try guest.coverageProfile()))
        XCTAssertEqual([first, second], [1, 3])
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
    }

    /// The plain kernel carries no profile: asking for one names the kernel to boot.
    func testAPlainKernelHasNoProfile() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        XCTAssertNil(guest.profileSections)
        XCTAssertThrowsError(try guest.coverageProfile()) { XCTAssertEqual($0 as? CoverageError, .notInstrumented) }
    }

    /// The header is version 10 with the section sizes of the image; the body
    /// is the sections as guest memory holds them.
    func testTheRawProfileIsTheSectionsBehindAHeader() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.coverageKernel())
        let sections = try XCTUnwrap(guest.profileSections)
        _ = try guest.boot()
        let profile = try guest.coverageProfile()
        let words = (0..<16).map { index in profile[index * 8..<index * 8 + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        XCTAssertEqual(Array(words[0...3]), [RawProfile.magic, 10, 0, sections.data.size / 64])
        XCTAssertEqual(words[5], sections.counters.size / 8)
        XCTAssertEqual(words[9], sections.names.size)
        XCTAssertEqual(words[10], sections.counters.virtual &- sections.data.virtual)
        let namesPadding = (8 - Int(sections.names.size) % 8) % 8
        XCTAssertEqual(profile.count, 128 + Int(sections.data.size + sections.counters.size + sections.names.size) + namesPadding)
        let counters = try guest.vm.memory.read(at: sections.counters.physical, count: Int(sections.counters.size))
        let start = 128 + Int(sections.data.size)
        XCTAssertEqual(Array(profile[start..<start + counters.count]), counters)
        XCTAssertEqual(sections.counters.physical, sections.counters.virtual - 0x0000_7FFF_8000_0000, "the image's link offset")
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
    }
}
