import GuestImage
import KVMHost
import ProcessResources
import StressCycle
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
        for index in 0..<8 { try StressCycle.run(kernel, index: index) }
        let before = ProcessResources.current()
        // One cycle in four fails on purpose: exception, watchdog, assertion.
        for index in 0..<200 { try StressCycle.run(kernel, index: index) }
        let after = ProcessResources.current()
        // Not equal but no more: threads of earlier tests may still be
        // giving their stacks back. A leak of one a cycle would be +200.
        XCTAssertLessThanOrEqual(after.openDescriptors, before.openDescriptors, "\(before) -> \(after)")
        XCTAssertLessThanOrEqual(after.mappings, before.mappings, "\(before) -> \(after)")
        // Each VM touched 64 MiB of guest memory; 200 of them leaking would be
        // gigabytes. The margin allows for the allocator's own caches.
        XCTAssertLessThan(after.residentBytes - before.residentBytes, 8 << 20, "resident memory grew: \(before) -> \(after)")
    }
}
