import GuestImage
import KVMHost
import ProcessResources
import TestSupport
import XCTest

/// Creating, running and destroying VMs gives back every file descriptor,
/// mapping and page of memory. `kvmstress` runs the same check for 1,000
/// cycles and for a minute on every core.
final class ResourceTests: XCTestCase {
    func testTwoHundredBootRunDestroyCyclesGiveEverythingBack() throws {
        try requireKVM()
        try skipUnderSanitizer("this test counts the process's mappings and resident memory")
        let kernel = try GuestImage.kernel()
        // A few cycles first, so that lazily created process-wide state
        // (signal handler, CPUID cache, allocator arenas) exists before the baseline.
        for _ in 0..<5 { try cycle(kernel) }
        let before = ProcessResources.current()
        for _ in 0..<200 { try cycle(kernel) }
        let after = ProcessResources.current()
        // Not equal but no more: threads of earlier tests may still be
        // giving their stacks back. A leak of one a cycle would be +200.
        XCTAssertLessThanOrEqual(after.openDescriptors, before.openDescriptors, "\(before) -> \(after)")
        XCTAssertLessThanOrEqual(after.mappings, before.mappings, "\(before) -> \(after)")
        // Each VM touched 64 MiB of guest memory; 200 of them leaking would be
        // gigabytes. The margin allows for the allocator's own caches.
        XCTAssertLessThan(after.residentBytes - before.residentBytes, 8 << 20, "resident memory grew: \(before) -> \(after)")
    }

    private func cycle(_ kernel: [UInt8]) throws {
        let guest = try LiveGuest(kernel: kernel)
        _ = try guest.boot()
        let run = try guest.runProgram("lazy-touch")
        XCTAssertEqual(run.outcome, .exited(status: 0))
        XCTAssertEqual(try guest.shutdown(), 0)
    }
}
