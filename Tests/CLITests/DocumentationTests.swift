import Foundation
import XCTest

/// The README and docs/ as a newcomer follows them: every link leads to a
/// file (and heading) that is there, every path they name exists, every
/// `swift test --filter` names a test class (and method) the suite has,
/// every kvmhost subcommand and option they use is one kvmhost takes, and
/// nothing points outside the repository.
final class DocumentationTests: XCTestCase {
    private let root = KVMHostBinary.packageRoot

    private func documents() throws -> [(name: String, text: String)] {
        let docs = root.appendingPathComponent("docs")
        let names = try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertFalse(names.isEmpty, "docs/ has the documentation")
        return try [("README.md", String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8))]
            + names.map { ("docs/" + $0, try String(contentsOf: docs.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// GitHub's anchor for a heading: lower case, spaces to hyphens, punctuation dropped.
    private func anchor(_ heading: String) -> String {
        String(heading.lowercased().compactMap { $0 == " " ? "-" : ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : nil })
    }

    func testEveryLinkLeadsToAFileAndHeading() throws {
        for (name, text) in try documents() {
            let directory = root.appendingPathComponent(name).deletingLastPathComponent()
            for match in text.matches(of: /\]\(([^)#\s]*)(#[^)\s]*)?\)/) {
                let target = String(match.1), fragment = match.2.map { String($0.dropFirst()) }
                XCTAssertFalse(target.hasPrefix("http"), "\(name): links inside the repository only: \(target)")
                let file = target.isEmpty ? root.appendingPathComponent(name) : directory.appendingPathComponent(target)
                XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(name): \(target) does not exist")
                if let fragment, let linked = try? String(contentsOf: file, encoding: .utf8) {
                    let headings = linked.split(separator: "\n").filter { $0.hasPrefix("#") }
                        .map { anchor(String($0.drop { $0 == "#" }.drop { $0 == " " })) }
                    XCTAssertTrue(headings.contains(fragment), "\(name): \(target) has no heading #\(fragment)")
                }
            }
            XCTAssertFalse(text.contains("../shared"), "\(name) points outside the repository")
        }
    }

    func testEveryPathNamedExists() throws {
        for (name, text) in try documents() {
            for match in text.matches(of: /`((?:scripts|Sources|Tests|docs|\.ci|\.github|Benchmarks|Fuzz|Plugins)\/[^`\s]*)`/) {
                let path = String(match.1)
                XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path), "\(name) names \(path)")
            }
        }
    }

    func testEveryFilterNamesATestTheSuiteHas() throws {
        var sources = ""
        let tests = root.appendingPathComponent("Tests")
        let enumerator = try XCTUnwrap(FileManager.default.enumerator(atPath: tests.path))
        while let file = enumerator.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            sources += try String(contentsOf: tests.appendingPathComponent(file), encoding: .utf8)
        }
        let caseFiles = root.appendingPathComponent("Sources/Guest/KernelTests")
        let kernelCases = try FileManager.default.contentsOfDirectory(atPath: caseFiles.path).filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOf: caseFiles.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
        for (name, text) in try documents() {
            for match in text.matches(of: /swift test[^\n`]*--filter[ =]([A-Za-z0-9_.]+)/) {
                let parts = match.1.split(separator: ".").map(String.init)
                let found = sources.contains("class \(parts[0])") || FileManager.default.fileExists(atPath: tests.appendingPathComponent(parts[0]).path)
                XCTAssertTrue(found, "\(name): swift test --filter \(match.1): no test class or target \(parts[0])")
                guard parts.count > 1 else { continue }
                if parts[0] == "GuestKernelTests" {
                    // One generated method per in-kernel case: test_NAME for GuestTestCase("NAME").
                    XCTAssertTrue(kernelCases.contains("GuestTestCase(\"\(parts[1].dropFirst("test_".count))\""), "\(name): no in-kernel case \(parts[1])")
                } else {
                    XCTAssertTrue(sources.contains("func \(parts[1])("), "\(name): no test method \(parts[1])")
                }
            }
        }
    }

    func testEveryKVMHostSubcommandAndOptionUsedIsOneItTakes() throws {
        var help: [String: String] = [:]
        for subcommand in ["boot", "address-space", "kernel-path", "gdb"] {
            help[subcommand] = try KVMHostBinary().run([subcommand, "--help"]).stdout
        }
        for (name, text) in try documents() {
            for block in text.matches(of: /```sh\n([\s\S]*?)```/) {
                for line in block.1.split(separator: "\n") {
                    guard let use = line.firstMatch(of: /kvmhost((?: [^\s#|;&)]+)*)/) else { continue }
                    let words = use.1.split(separator: " ").map(String.init)
                    let subcommand = words.first.flatMap { help[$0] != nil ? $0 : nil } ?? "boot"
                    for word in words where word.hasPrefix("--") {
                        let option = String(word.prefix { $0 != "=" })
                        XCTAssertTrue(help[subcommand]!.contains(option), "\(name): kvmhost \(subcommand) takes no \(option): \(line)")
                    }
                }
            }
        }
    }

    /// `kvmhost --help` shows boot's options (boot is what `kvmhost` runs)
    /// and every exit status, the same statuses docs/kvmhost.md lists.
    func testTheTopLevelHelpShowsBootsOptionsAndEveryExitStatus() throws {
        let help = try KVMHostBinary().run(["--help"])
        XCTAssertEqual(help.status, 0)
        for option in ["--memory", "--smp", "--accel", "--gdb", "--cpu", "--timeout", "--from-snapshot"] {
            XCTAssertTrue(help.stdout.contains("\n  \(option) "), "kvmhost --help shows \(option): \(help.stdout)")
        }
        XCTAssertEqual(try KVMHostBinary().run(["-h"]).stdout, help.stdout)
        let statuses = help.stdout.matches(of: /\n +(\d+(?:-\d+)?)  [a-zK]/).map { String($0.1) }
        let docs = try String(contentsOf: root.appendingPathComponent("docs/kvmhost.md"), encoding: .utf8)
        let listed = docs.matches(of: /\n\| (\d+(?:-\d+)?) \|\s/).map { String($0.1) }
        XCTAssertEqual(statuses, ["0-63", "64", "65", "69", "74", "120", "121", "122", "123", "124", "125", "126"], help.stdout)
        XCTAssertEqual(listed, statuses, "docs/kvmhost.md lists the statuses kvmhost --help lists")
    }

    /// Every command of a sh block is one scripts/check-docs runs, or gives a
    /// reason not to run (CI runs the blocks themselves).
    func testEveryCommandBlockLineHasAPolicy() throws {
        let result = try KVMHostBinary.runScript("check-docs", ["--list"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("README.md: swift run kvmhost\n    run\n"), result.stdout)
    }
}
