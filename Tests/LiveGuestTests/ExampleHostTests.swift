// The worked example of a host test (docs/host-tests.md): boot a live
// guest, make typed calls into its kernel, assert on replies, errors, the
// page tables and a failure. Copy it to start a test of your own.

import GuestImage     // GuestImage.kernel(): the guest.elf this build made
import GuestProtocol  // the calls, their replies and the kernel's typed errors (CallError, MapError, ...)
import KVMHost        // LiveGuest, GuestFailure, GuestCallError
import TestSupport    // GuestBehaviourTestCase, XCTAssertCallFails
import XCTest

// A GuestBehaviourTestCase runs its body on each backend selected
// (KVMHOST_BACKEND: kvm by default, tcg, both), and skips naming what is
// missing (no /dev/kvm, no QEMU) instead of failing, as a plain XCTestCase
// would.
final class ExampleHostTests: GuestBehaviourTestCase {
    func testMapWriteThroughTheGuestAndUnmap() throws {
        try onEachBackend { _ in
            let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 64 << 20))
            let ready = try guest.boot()  // the ready record: the kernel's layout, the memory map, the CPUs
            XCTAssertEqual(ready.cpuCount, UInt64(guest.configuration.cpuCount))
            let before = try guest.call(ReadFrameStatistics())  // a reply is a value: here FrameStatistics

            // MapPage's reply is the frame it mapped (UInt64, a physical address).
            let frame = try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [.writable, .noExecute]))
            XCTAssertEqual(frame % 4096, 0)
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before.free - 1 - 3, "the frame, and a PDPT, a PD and a PT")

            // Translate's reply is an enum: where the walk led, with the flags as mapped.
            guard case .mapped(let physical, let flags, let pageSize) = try guest.call(Translate(virtual: 0x4000_0123)) else {
                return XCTFail("0x40000123 is mapped")
            }
            XCTAssertEqual(physical, frame + 0x123)
            XCTAssertTrue(flags.contains(.writable))
            XCTAssertEqual(pageSize, 4096)
            // ReadMemory reads as the guest sees it, through its page tables: a fresh frame is zeroed.
            XCTAssertEqual(try guest.call(ReadMemory(virtual: 0x4000_0000, count: 16)).bytes, [UInt8](repeating: 0, count: 16))

            // A refusal is the kernel's typed error, with its context.
            XCTAssertCallFails(try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [])),
                               .map(.alreadyMapped(page: 0x4000_0000, frame: Frame(containing: frame))))

            // The host's page-table check runs after every call; here it is asked for by hand.
            let report = try guest.checkPageTables()
            XCTAssertTrue(report.violations.isEmpty, "\(report.violations)")

            // UnmapPage's reply is the frame it unmapped (nil for a lazy page); it frees it when asked.
            XCTAssertEqual(try guest.call(UnmapPage(virtual: 0x4000_0000, freeFrame: true)), frame)
            // The tables it emptied went too: the walk now stops in the PML4, and every frame is back.
            XCTAssertEqual(try guest.call(Translate(virtual: 0x4000_0000)), .notPresent(level: 4, lazy: false))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before.free)
            XCTAssertEqual(try guest.shutdown(), 0, "the kernel's exit status")
        }
    }

    /// A kernel that fails ends the run with a typed GuestFailure: which
    /// failure, the CPU's registers, the faulting line and a backtrace.
    func testAKernelPageFaultIsAGuestFailure() throws {
        try onEachBackend { _ in
            let guest = try liveGuest(kernel: GuestImage.kernel())
            _ = try guest.boot()
            do {
                _ = try guest.call(RaiseException(.pageFault(address: 0x4000_0000)))
                XCTFail("the kernel faulted")
            } catch let failure as GuestFailure {
                guard case .exception(let report) = failure.kind else { return XCTFail("\(failure)") }
                XCTAssertEqual(report.vector, 14, "#PF")
                XCTAssertEqual(report.cr2, 0x4000_0000)
                XCTAssertTrue(failure.description.contains("KernelCallHandlers.swift:"), failure.description)
            }
        }
    }
}
