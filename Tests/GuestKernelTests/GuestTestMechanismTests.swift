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

    /// Runs `name`, a case that breaks the page tables, and returns the
    /// violation the host's check after the call names, and the space the
    /// case published (the last one).
    private func violationAfter(_ name: String, on backend: Backend) throws -> (PageTableViolation, LiveGuest, PublishedTable.Space) {
        let guest = try ReadyGuests.guest(on: backend)
        let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
        let index = try XCTUnwrap(names.firstIndex(of: name))
        do {
            _ = try guest.call(RunGuestTest(index: UInt64(index)), timeout: .seconds(60))
            throw PageTablesLeftWhole(name: name)
        } catch let failure as GuestFailure {
            guard case .pageTableViolation(let violation) = failure.kind else { throw failure }
            XCTAssertEqual(guest.expectationFailures, [], "the case did what it meant to")
            let space = try XCTUnwrap(PublishedTable(memory: guest.memory, at: guest.pageTableCheckTable).spaces.last)
            return (violation, guest, space)
        }
    }

    /// A case maps its space's root frame at a user address: the check
    /// after the call names the page table mapped as a page, at that
    /// address, with every entry of its walk.
    func testAPageTableMappedAtAUserAddressIsCaughtAfterTheCall() throws {
        try onEachBackend { backend in
            let (violation, guest, space) = try violationAfter("mechanism_pageTableMappedAtUserAddress", on: backend)
            XCTAssertEqual(space.index, 1)
            XCTAssertEqual(space.kind, .testCase)
            let steps = try PageTableFixtures.steps(guest.memory, root: space.root, virtual: 0x4000_0000)
            XCTAssertEqual(steps.map(\.level), [4, 3, 2, 1])
            XCTAssertEqual(steps.last.map { $0.entry & PageTableFixtures.addressBits }, space.root, "the leaf maps the root")
            XCTAssertEqual(violation, PageTableViolation(rule: .pageTableMappedAsPage, frame: space.root,
                                                         mappings: [.init(space: space, virtual: 0x4000_0000, steps: steps)]))
        }
    }

    /// A case frees a frame its space still maps: the check after the call
    /// names the free frame mapped.
    func testAFrameFreedWhileMappedIsCaughtAfterTheCall() throws {
        try onEachBackend { backend in
            let (violation, guest, space) = try violationAfter("mechanism_frameFreedWhileMapped", on: backend)
            XCTAssertEqual(space.kind, .testCase)
            let steps = try PageTableFixtures.steps(guest.memory, root: space.root, virtual: 0x4000_0000)
            XCTAssertEqual(steps.map(\.level), [4, 3, 2, 1])
            let frame = try XCTUnwrap(steps.last).entry & PageTableFixtures.addressBits
            XCTAssertEqual(violation, PageTableViolation(rule: .freeFrameMapped, frame: frame,
                                                         mappings: [.init(space: space, virtual: 0x4000_0000, steps: steps)]))
        }
    }
}

/// A case meant to break the page tables ran, and the check found nothing.
struct PageTablesLeftWhole: Error, CustomStringConvertible {
    var name: String
    var description: String { "\(name) ran and the host's page-table check after it found nothing" }
}

/// The TLB checker, caught in the act: a case that remaps a live page and
/// never invalidates it.
final class TLBCheckerMechanismTests: GuestBehaviourTestCase {
    /// Past the checker's capacity of 64 obligations, the first one not
    /// kept still fails the call once the kept ones are discharged.
    func testAnObligationPastTheCheckersCapacityStillFails() throws {
        try onEachBackend { backend in
            let guest = try ReadyGuests.guest(configuration: .init(backend: backend)).0
            let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
            let index = try XCTUnwrap(names.firstIndex(of: "mechanism_obligationsPastCapacity"))
            XCTAssertThrowsError(try guest.call(RunGuestTest(index: UInt64(index)))) { error in
                guard let failure = error as? GuestFailure, case .staleTranslation(let report) = failure.kind else {
                    return XCTFail("not the TLB checker's failure: \(error)")
                }
                XCTAssertEqual(report.address, 0x0000_01D0_0000_0000 + 64 * 4096)
                XCTAssertEqual(report.change, .unmapped)
                XCTAssertEqual(report.pending, 1)
                XCTAssertEqual(report.checkpoint, .endOfCall)
                XCTAssertTrue((failure.symbolizedWriter() ?? []).contains { $0.line?.contains("MechanismCases.swift:") == true },
                              "\(failure.symbolizedWriter() ?? [])")
            }
        }
    }

    /// scripts/mutate-flushes mutates what the kernel has: its list is every
    /// flush site a `TLB` invalidation names in the kernel's sources, and
    /// every other mutation a `#if MUTATION` there tests for, each once.
    func testTheMutationScriptListsEverySiteTheKernelUses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/mutate-flushes").path, "--list"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let listed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").map(String.init)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        var used: [String] = []
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources/Guest").path))
        let site = try NSRegularExpression(pattern: #"TLB\.(?:invalidate|flushAll|reload)\([^\n]*at: \.([A-Za-z]+)\)"#)
        let other = try NSRegularExpression(pattern: #"activeMutation == \.([A-Za-z]+)\b(?!\()"#)
        while let file = walker.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            let text = try String(contentsOf: root.appendingPathComponent("Sources/Guest").appendingPathComponent(file), encoding: .utf8)
            for expression in [site, other] {
                for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    used.append(String(text[Range(match.range(at: 1), in: text)!]))
                }
            }
        }
        XCTAssertEqual(Set(listed), Set(used), "listed but never used, or used but not listed")
        XCTAssertEqual(listed.count, Set(listed).count, "a mutation listed twice")
        XCTAssertGreaterThanOrEqual(listed.count, 12)
    }

    /// The checker sees every invalidation because `TLB` is the only code
    /// that invalidates: no other kernel source runs invlpg or writes CR3
    /// (cpu.h defines the instructions; the PVH entry loads the boot tables
    /// before the kernel's own exist, and the start-up trampoline a starting
    /// CPU's first tables before it runs any kernel code).
    func testOnlyTheTLBPrimitivesInvalidate() throws {
        let guest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Guest")
            .standardizedFileURL
        let allowed: Set<String> = ["Kernel/TLB/TLB.swift", "Kernel/cpu.h", "Kernel/Assembly/pvh-entry.S", "Kernel/Assembly/ap-trampoline.S"]
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: guest.path))
        var offenders: [String] = []
        var scanned = 0
        while let file = walker.nextObject() as? String {
            guard [".swift", ".S", ".h", ".c"].contains(where: file.hasSuffix), !allowed.contains(file) else { continue }
            scanned += 1
            let text = try String(contentsOf: guest.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.components(separatedBy: "//").first ?? ""
                if code.contains("cpu_invlpg") || code.contains("cpu_write_cr3") || code.contains("invlpg")
                    || code.range(of: #",\s*%cr3"#, options: .regularExpression) != nil {
                    offenders.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        XCTAssertGreaterThan(scanned, 100)
        XCTAssertEqual(offenders, [], "invalidations outside Kernel/TLB/TLB.swift escape the TLB checker")
    }

    /// The call fails at its end with the checker's report: the page, the
    /// change, the checkpoint, and the chain of return addresses that wrote
    /// the entry, symbolized to the planted line. Whether this backend's
    /// CPU really kept the stale translation is read from the case's console
    /// line and printed; the verdict is the same either way.
    func testAMissingInvalidationFailsNamingTheLineThatForgotIt() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/Guest/KernelTests/MechanismCases.swift").standardizedFileURL
        let lines = try String(contentsOf: source, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let planted = try XCTUnwrap(lines.firstIndex { $0.contains("// the planted bug") }) + 1
        try onEachBackend { backend in
            let guest = try ReadyGuests.guest(configuration: .init(backend: backend)).0
            let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
            let index = try XCTUnwrap(names.firstIndex(of: "mechanism_missingInvalidation"))
            XCTAssertThrowsError(try guest.call(RunGuestTest(index: UInt64(index)))) { error in
                guard let failure = error as? GuestFailure, case .staleTranslation(let report) = failure.kind else {
                    return XCTFail("not the TLB checker's failure: \(error)")
                }
                XCTAssertEqual(report.address, 0x0000_01C0_0000_0000)
                XCTAssertEqual(report.level, 1)
                XCTAssertTrue(report.leaf)
                XCTAssertEqual(report.change, .unmapped)
                XCTAssertEqual(report.checkpoint, .endOfCall)
                XCTAssertEqual(report.pending, 1)
                let writer = failure.symbolizedWriter() ?? []
                XCTAssertEqual(writer.count, report.writtenFrom.values.count)
                XCTAssertTrue(writer.contains { $0.line?.hasSuffix("MechanismCases.swift:\(planted)") == true },
                              "the writer's frames name the planted line \(planted): \(writer)")
                XCTAssertTrue(failure.description.contains(
                    "stale translation: 0x1c000000000 in the address space with root \(hex(report.root)) was unmapped (its level-1 leaf), "
                        + "and the call ended without invalidating it"), failure.description)
                XCTAssertTrue(failure.description.contains("the entry was written from:\n  #0 "), failure.description)
                // Where the kernel noticed: the end of the call, in the dispatcher.
                let noticed = failure.symbolizedBacktrace()?.frames ?? []
                XCTAssertTrue(noticed.contains { $0.function?.contains("TLBChecker") == true }, "\(noticed)")
                let seen = failure.consoleTail.first { $0.hasPrefix("mechanism_missingInvalidation: after the remap") }
                XCTAssertTrue(seen?.hasSuffix("0x0000000000001111 (the stale translation)") == true
                              || seen?.hasSuffix("0x0000000000002222 (the new translation)") == true, "\(seen ?? "no line")")
                print("TLB checker on \(backend): \(seen ?? "no line")")
            }
        }
    }

    /// Two locks taken in both orders, one after the other on one CPU: the
    /// lock validator ends the run at the second order's inner acquire with
    /// a typed failure naming both places, though no deadlock happened.
    func testALockOrderInversionIsCaughtNamingBothPlaces() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/Guest/KernelTests/MechanismCases.swift").standardizedFileURL
        let lines = try String(contentsOf: source, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let inversion = try XCTUnwrap(lines.firstIndex { $0.contains("// the planted inversion") }) + 1
        let firstOrder = try XCTUnwrap(lines.firstIndex { $0.contains("// the first order") }) + 1
        try onEachBackend { backend in
            let guest = try ReadyGuests.guest(configuration: .init(backend: backend)).0
            let names = try guest.call(ListGuestTests()).map { String(decoding: $0.bytes, as: UTF8.self) }
            let index = try XCTUnwrap(names.firstIndex(of: "mechanism_lockInversionIsCaught"))
            XCTAssertThrowsError(try guest.call(RunGuestTest(index: UInt64(index)))) { error in
                guard let failure = error as? GuestFailure, case .lockViolation(let report) = failure.kind else {
                    return XCTFail("not the lock validator's failure: \(error)")
                }
                XCTAssertEqual(report.kind, .orderInversion)
                XCTAssertEqual(report.taken, .validatorTestFirst)
                XCTAssertEqual(report.held, .validatorTestSecond)
                XCTAssertEqual(report.cpu, 0)
                let sites = failure.symbolizedLockSites()
                XCTAssertEqual(sites?.taken.line?.hasSuffix("MechanismCases.swift:\(inversion)"), true, "\(String(describing: sites))")
                XCTAssertEqual(sites?.other?.line?.hasSuffix("MechanismCases.swift:\(firstOrder)"), true, "\(String(describing: sites))")
                XCTAssertTrue(failure.description.contains(
                    "guest failure: lock order inversion on CPU 0: validator test (first) taken while validator test (second) is held, "
                        + "where elsewhere validator test (second) was taken while validator test (first) was held"), failure.description)
                XCTAssertTrue(failure.description.contains("the other order (validator test (first) held, validator test (second) taken) first at "),
                              failure.description)
            }
        }
    }
}

private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
