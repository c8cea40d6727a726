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
            // The assembly fast path maps with the bits the Pagemap would
            // (it once set bit 63 here: every page it mapped then faulted with RSVD).
            XCTAssertEqual(try guest.runProgram("lazy-touch", reportFaults: false).outcome, .exited(status: 0))
            let walk = try guest.walk(0x4000_0000, cr3: ready.pageTableRoot)
            XCTAssertTrue(walk.steps.allSatisfy { $0.entry >> 63 == 0 }, "\(walk)")
        }
    }

    /// With pdpe1gb the direct map takes a 1 GiB page for each whole GiB of
    /// RAM and 2 MiB pages for the rest; without, 2 MiB pages throughout.
    /// The kernel's own translation agrees with the host's walk, and the
    /// memory manager works over it. (This KVM has no pdpe1gb to give.)
    func testTheDirectMapTakesGigabytePagesWhereCPUIDHasThem() throws {
        try onEachBackend { backend in
            for cpu in [CPUSelection(), CPUSelection(enabled: [.pdpe1gb])] {
                var configuration = LiveGuest.Configuration(memorySize: 2 << 30)
                configuration.cpu = cpu
                let guest: LiveGuest
                do {
                    guest = try liveGuest(kernel: GuestImage.kernel(), configuration: configuration)
                } catch let error as CPUFeatureError where backend == .kvm {
                    guard case .unsupported(.pdpe1gb, .kvm, _) = error else { throw error }
                    continue
                }
                let ready = try guest.boot()
                let info = try guest.call(ReadCPU())
                XCTAssertEqual(info.has(.pdpe1gb), !cpu.enabled.isEmpty, "\(cpu)")
                XCTAssertEqual(info.gigabyteDirectMap, info.has(.pdpe1gb), "\(cpu)")
                let firstGiB: UInt64 = info.has(.pdpe1gb) ? 1 << 30 : 2 << 20
                let readWrite = PageWalk.Access(writable: true, user: false, executable: false)
                for (physical, pageSize) in [(0x1234_5678 as UInt64, firstGiB), ((1 << 30) + 0x1234_5678, 2 << 20)] {
                    let virtual = ready.directMapBase + physical
                    XCTAssertEqual(try guest.walk(virtual, cr3: ready.pageTableRoot).outcome,
                                   .mapped(physical: physical, pageSize: pageSize, access: readWrite), "\(cpu)")
                    XCTAssertEqual(try guest.call(Translate(virtual: virtual)),
                                   .mapped(physical: physical, flags: [.present, .writable, .noExecute], pageSize: pageSize), "\(cpu)")
                }
                let frame = try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [.writable]))
                XCTAssertEqual(try guest.call(ReadMemory(virtual: ready.directMapBase + frame, count: 8)).bytes, [UInt8](repeating: 0, count: 8))
                XCTAssertEqual(try guest.runProgram("lazy-touch").outcome, .exited(status: 0), "\(cpu)")
            }
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
