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
        let guest = try LiveGuest(kernel: [UInt8](try Data(contentsOf: GuestImage.plainKernelURL)))
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
        let counters = try guest.memory.read(at: sections.counters.physical, count: Int(sections.counters.size))
        let start = 128 + Int(sections.data.size)
        XCTAssertEqual(Array(profile[start..<start + counters.count]), counters)
        XCTAssertEqual(sections.counters.physical, sections.counters.virtual - 0x0000_7FFF_8000_0000, "the image's link offset")
        XCTAssertEqual(try guest.shutdown(), ExitStatus.success)
    }


    /// Only the image says where the profile is and how large: a section
    /// too large, outside the loaded segments, or not whole records is
    /// refused by name before any guest runs.
    func testProfileSectionsTheImageCannotBackAreRefused() throws {
        let kernel = try GuestImage.coverageKernel()
        let sections = try XCTUnwrap(try ProfileSections(image: ELFImage(bytes: kernel)))
        XCTAssertGreaterThan(sections.counters.size, 0)
        XCTAssertEqual(sections.data.size % RawProfile.dataRecordSize, 0)
        let cases: [(String, Int, UInt64, CoverageError)] = [
            ("__llvm_prf_cnts", 32, 65 << 20, .sectionTooLarge("__llvm_prf_cnts", size: 65 << 20)),
            ("__llvm_prf_cnts", 16, 0x10, .sectionNotLoaded("__llvm_prf_cnts", address: 0x10, size: sections.counters.size)),
            ("__llvm_prf_names", 32, 1 << 30 | 1, .sectionTooLarge("__llvm_prf_names", size: 1 << 30 | 1)),
            ("__llvm_prf_data", 32, sections.data.size - 8, .malformedSection("__llvm_prf_data", size: sections.data.size - 8)),
            ("__llvm_prf_data", 16, UInt64.max - 4, .sectionNotLoaded("__llvm_prf_data", address: UInt64.max - 4, size: sections.data.size)),
            ("__llvm_prf_cnts", 32, 1 << 40, .sectionTooLarge("__llvm_prf_cnts", size: 1 << 40)),
            ("__llvm_prf_data", 32, UInt64.max, .sectionTooLarge("__llvm_prf_data", size: UInt64.max)),
            // The counters moved onto the records: both inside the data segment, sharing bytes.
            ("__llvm_prf_cnts", 16, sections.data.virtual, .overlappingSections("__llvm_prf_data", "__llvm_prf_cnts")),
            ("__llvm_prf_names", 0, 0, .missingSection("__llvm_prf_names")),
        ]
        for (name, field, value, expected) in cases {
            let image = try ELFImage(bytes: try patchingSection(kernel, named: name, field: field, to: value))
            XCTAssertThrowsError(try ProfileSections.validated(image: image), "\(name) field \(field) = \(value)") {
                XCTAssertEqual($0 as? CoverageError, expected)
            }
            // Such a kernel still makes a guest: only its profile is refused, by the same error.
            let lying = try XCTUnwrap(try ProfileSections(image: image))
            XCTAssertEqual(lying.problem, expected)
            XCTAssertThrowsError(try lying.check()) { XCTAssertEqual($0 as? CoverageError, expected) }
        }
        // A plain kernel's empty sections are no profile at all.
        XCTAssertNil(try ProfileSections(image: ELFImage(bytes: [UInt8](try Data(contentsOf: GuestImage.plainKernelURL)))))
    }
}
