import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The same guest.elf under QEMU's TCG, an independent x86 implementation,
/// reaches the same ready report.
final class QEMUCrossCheckTests: XCTestCase {
    func testSameGuestBootsUnderQEMUToTheSameReadyReport() throws {
        guard QEMUBoot.find() != nil else {
            throw XCTSkip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86); .ci/run installs it")
        }
        let qemu = try QEMUBoot(memoryMiB: 64).run(kernel: GuestImage.kernelURL.path)
        XCTAssertEqual(qemu.guestStatus, ExitStatus.success, qemu.console)
        XCTAssertTrue(qemu.console.contains("guest kernel: long mode, kernel region at 0x00007fff80000000\n"))
        guard case .ready(let underQEMU)? = qemu.reports.first else { return XCTFail("no ready report:\n\(qemu.console)") }

        // QEMU's firmware hands over its own memory map: usable RAM in the
        // low 640 KiB and from 1 MiB up to the memory size, nothing else.
        let ram = underQEMU.memoryMap.filter(\.isRAM)
        XCTAssertTrue(ram.contains { $0.base == 0 || $0.base == 0x1000 })
        XCTAssertTrue(ram.contains { $0.base == 0x100000 && $0.end <= 64 << 20 && $0.end >= 63 << 20 })
        XCTAssertFalse(ram.contains { $0.base < 0x100000 && $0.end > 0xA0000 }, "the legacy hole is never RAM")

        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        let underKVM = try guest.boot()
        // Everything but the VMM-specific memory map and start-info address is the same.
        XCTAssertEqual(underQEMU.kernelPhysicalStart, underKVM.kernelPhysicalStart)
        XCTAssertEqual(underQEMU.kernelPhysicalEnd, underKVM.kernelPhysicalEnd)
        XCTAssertEqual(underQEMU.kernelVirtualBase, underKVM.kernelVirtualBase)
        XCTAssertEqual(underQEMU.directMapBase, underKVM.directMapBase)
        XCTAssertEqual(underQEMU.heapStart, underKVM.heapStart)
        XCTAssertEqual(underQEMU.heapEnd, underKVM.heapEnd)
    }
}
