import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// `Configuration.cpu` (`--cpu`) on each backend: what the kernel finds in
/// CPUID, what it does without, and what a backend cannot give.
final class CPUFeatureTests: GuestBehaviourTestCase {
    private func guest(_ cpu: CPUSelection) throws -> LiveGuest {
        var configuration = LiveGuest.Configuration()
        configuration.cpu = cpu
        return try liveGuest(kernel: GuestImage.kernel(), configuration: configuration)
    }

    /// Without long mode the entry names it before anything else runs.
    func testWithoutLongModeTheBootEndsNamingIt() throws {
        try onEachBackend { _ in
            let guest = try guest(CPUSelection(disabled: [.lm]))
            XCTAssertThrowsError(try guest.boot()) {
                XCTAssertEqual(($0 as? GuestFailure)?.kind, .missingCPUFeature(
                    "guest kernel: the CPU has no long mode (CPUID 0x80000001 EDX bit 29 lm); the kernel runs in long mode only"))
            }
        }
    }

    /// Without NX the kernel keeps EFER.NXE off and makes no entry with bit
    /// 63 (a reserved bit then): its data is mapped, readable and writable,
    /// and every call still works.
    func testWithoutNXNothingIsMappedNoExecute() throws {
        try onEachBackend { _ in
            let guest = try guest(CPUSelection(disabled: [.nx]))
            let ready = try guest.boot()
            let cpu = try guest.call(ReadCPU())
            XCTAssertFalse(cpu.has(.nx))
            XCTAssertTrue(cpu.has(.lm))
            XCTAssertFalse(cpu.noExecute)
            for address in [ready.heapStart, ready.directMapBase + 0x20_0000, ready.kernelVirtualBase + ready.kernelPhysicalStart] {
                let walk = try guest.walk(address, cr3: ready.pageTableRoot)
                XCTAssertTrue(walk.steps.allSatisfy { $0.entry >> 63 == 0 }, "no entry with bit 63 for \(String(address, radix: 16)): \(walk)")
            }
            let frame = try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [.writable, .noExecute]))
            XCTAssertEqual(try guest.walk(0x4000_0000, cr3: ready.pageTableRoot).outcome,
                           .mapped(physical: frame, pageSize: 4096, access: .init(writable: true, user: false, executable: true)),
                           "asked for no-execute, mapped without it: the CPU has no such bit")
            XCTAssertEqual(try guest.runProgram("lazy-touch").outcome, .exited(status: 0))
        }
    }

    /// The default CPU of each backend, as the kernel finds it: NX, long mode.
    func testTheDefaultCPUHasWhatTheKernelUses() throws {
        try onEachBackend { _ in
            let guest = try guest(CPUSelection())
            _ = try guest.boot()
            let cpu = try guest.call(ReadCPU())
            XCTAssertTrue(cpu.has(.lm) && cpu.has(.nx) && cpu.noExecute)
            // SMEP and SMAP exactly where CPUID shows them (this KVM shows
            // the host's; QEMU's default model has neither).
            XCTAssertEqual(cpu.smep, cpu.has(.smep))
            XCTAssertEqual(cpu.smap, cpu.has(.smap))
        }
    }

    /// A feature taken away must be gone from the guest's CPUID, or the boot
    /// fails naming it: this KVM answers CPUID leaf 7 with the host's SMEP
    /// and SMAP whatever KVM_SET_CPUID2 says, and a check run "without
    /// SMEP" there would run with it.
    func testAFeatureTheGuestStillSeesFailsTheBoot() throws {
        try onEachBackend { backend in
            let guest = try guest(CPUSelection(disabled: [.smep, .smap]))
            do {
                _ = try guest.boot()
                let cpu = try guest.call(ReadCPU())
                XCTAssertFalse(cpu.has(.smep) || cpu.has(.smap) || cpu.smep || cpu.smap, "taken away and booted: \(cpu)")
            } catch let error as CPUFeatureError {
                XCTAssertEqual(error, .notHonoured(.smep, backend: backend, guestHasIt: true))
                XCTAssertTrue(error.description.contains("could not take smep away: the guest's CPUID still has it"), error.description)
            }
        }
    }

    /// What a backend cannot give is refused before the guest runs.
    func testAFeatureTheBackendLacksIsRefused() throws {
        try onEachBackend { backend in
            let feature: CPUFeature = backend == .kvm ? .smep : .pcid
            XCTAssertThrowsError(try guest(CPUSelection(enabled: [feature]))) { error in
                guard case .unsupported(feature, backend, _)? = error as? CPUFeatureError else { return XCTFail("\(error)") }
            }
        }
    }
}
