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

    /// On CPUs without a feature the kernel needs, QEMU (where CPUID can say
    /// so) shows the kernel stop at its entry with a line naming the feature
    /// and exit status 6, instead of a wrmsr #GP and a silent triple fault.
    func testEachMissingCPUFeatureIsNamedBeforeItIsUsed() throws {
        guard QEMUBoot.find() != nil else {
            throw XCTSkip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86); .ci/run installs it")
        }
        let cases = [
            ("qemu32", "guest kernel: the CPU has no long mode (CPUID 0x80000001 EDX bit 29 lm); the kernel runs in long mode only\n"),
            ("qemu64,-pae", "guest kernel: the CPU has no PAE (CPUID 1 EDX bit 6 pae); long mode needs it\n"),
            ("qemu64,-msr", "guest kernel: the CPU has no MSRs (CPUID 1 EDX bit 5 msr); EFER is one\n"),
            ("qemu64,-tsc", "guest kernel: the CPU has no time-stamp counter (CPUID 1 EDX bit 4 tsc); processes are timed with it\n"),
        ]
        for (cpu, line) in cases {
            let qemu = try QEMUBoot(memoryMiB: 64, cpu: cpu).run(kernel: GuestImage.kernelURL.path)
            XCTAssertEqual(qemu.guestStatus, ExitStatus.missingCPUFeature, "\(cpu): \(qemu.console)")
            XCTAssertTrue(qemu.console.hasSuffix(line), "\(cpu): \(qemu.console)")
            XCTAssertEqual(qemu.reports, [], "\(cpu): nothing ran past the entry")
        }
        XCTAssertEqual(try QEMUBoot(memoryMiB: 64, cpu: "qemu64").run(kernel: GuestImage.kernelURL.path).guestStatus,
                       ExitStatus.success, "the same kernel on a CPU with every feature")
        XCTAssertEqual(try QEMUBoot(memoryMiB: 64, cpu: "qemu64,-nx").run(kernel: GuestImage.kernelURL.path).guestStatus,
                       ExitStatus.success, "and without NX, which it does without")
    }
}
