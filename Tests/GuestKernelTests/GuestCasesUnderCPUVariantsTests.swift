import KVMHost
import TestSupport
import XCTest

/// Every in-kernel case again under each CPU variant but the default (which
/// `GuestKernelTests` runs case by case): without NX, and where the backend
/// has them with SMEP, SMAP and 1 GiB pages, since the memory manager's
/// entries and direct map change with them. Each case in a fresh guest of
/// that CPU; a failure names the variant and shows at the guest's line.
final class GuestCasesUnderCPUVariantsTests: GuestBehaviourTestCase {
    func testEveryCaseUnderEachCPUVariant() throws {
        try onEachBackend { backend in
            for cpu in CPUVariants.all(on: backend) where !cpu.isDefault {
                for name in GuestKernelTests.generatedNames {
                    let outcome = try GuestCaseRunner.run(name, on: backend, cpu: cpu)
                    GuestCaseRunner.record(outcome) { description, file, line in
                        recordFailure(withDescription: "[\(cpu)] \(name): \(description)", inFile: file, atLine: line, expected: true)
                    }
                    XCTAssertEqual(outcome.reply.failures, UInt64(outcome.failures.count), "\(name) under \(cpu): failures counted and sent")
                    XCTAssertGreaterThan(outcome.reply.expectations, 0, "\(name) under \(cpu) checked nothing")
                    XCTAssertEqual(outcome.freeFrames.after, outcome.freeFrames.before, "\(name) under \(cpu) left frames allocated")
                }
            }
        }
    }
}
