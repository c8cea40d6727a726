import GuestImage
import MemoryManager
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The kernel's Pagemap in the live guest, checked against the host's own
/// page-table walker reading guest memory.
final class PagemapLiveTests: GuestBehaviourTestCase {

    /// A fresh, ready guest: from one snapshot on kvm (`ReadyGuests`).
    private func boot() throws -> (LiveGuest, ReadyRecord) {
        try readyGuest()
    }

    /// The guest's translate and the host's walk must say the same.
    private func assertAgree(_ guest: LiveGuest, cr3: UInt64, _ address: UInt64, line: UInt = #line) throws {
        let guestView = try guest.call(Translate(virtual: address))
        let hostView = try guest.walk(address, cr3: cr3)
        switch (guestView, hostView.outcome) {
        case (.mapped(let physical, let flags, let size), .mapped(let hostPhysical, let hostSize, let access)):
            XCTAssertEqual(physical, hostPhysical, "\(hex(address))", line: line)
            XCTAssertEqual(size, hostSize, "\(hex(address))", line: line)
            XCTAssertEqual(flags.contains(.writable), access.writable, "\(hex(address)) writable", line: line)
            XCTAssertEqual(flags.contains(.user), access.user, "\(hex(address)) user", line: line)
            XCTAssertEqual(!flags.contains(.noExecute), access.executable, "\(hex(address)) executable", line: line)
        case (.notPresent(let level, _), .notPresent(let hostLevel)):
            XCTAssertEqual(level, hostLevel, "\(hex(address))", line: line)
        default:
            XCTFail("\(hex(address)): guest says \(guestView), host says \(hostView)", line: line)
        }
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    func testMapAndUnmapScenariosAgreeWithTheHostWalker() throws {
        try onEachBackend { _ in
            let (guest, ready) = try boot()
            let cr3 = ready.pageTableRoot
            let scenario: [(UInt64, PageTableFlags)] = [
                (0x4000_0000, [.writable, .noExecute]),
                (0x4000_1000, [.user, .writable]),
                (0x4020_0000, []),
                (0x0000_0080_0000_0000, [.user]),
                (0x0000_7F00_0000_0000, [.writable, .noExecute]),
                (0x0000_7F7F_FFFF_F000, [.noExecute]),
            ]
            var frames: [UInt64: UInt64] = [:]
            for (address, flags) in scenario {
                frames[address] = try guest.call(MapPage(virtual: address, frame: .allocate, flags: flags))
            }
            var probes: [UInt64] = [0, 0x1000, ready.kernelVirtualBase + ready.kernelPhysicalStart + 0x9000, ready.directMapBase + 0x12_3456]
            for (address, _) in scenario {
                probes += [address, address + 0x123, address &- 0x1000, address + 0x1000, address + 0x20_0000]
            }
            probes = probes.filter { $0 < (1 << 47) }
            for address in probes { try assertAgree(guest, cr3: cr3, address) }

            // Errors carry their context.
            let free = try guest.call(ReadFrameStatistics()).free
            XCTAssertCallFails(try guest.call(MapPage(virtual: 0x4000_0000, frame: .allocate, flags: [])),
                               .map(.alreadyMapped(page: 0x4000_0000, frame: Frame(containing: frames[0x4000_0000]!))))
            XCTAssertCallFails(try guest.call(MapPage(virtual: 0x0000_8000_0000_0000, frame: .allocate, flags: [])),
                               .nonCanonical(address: 0x0000_8000_0000_0000))
            XCTAssertCallFails(try guest.call(MapPage(virtual: 0x4000_2001, frame: .allocate, flags: [])),
                               .misalignedPage(address: 0x4000_2001))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, free, "a refused map keeps no frame")
            // The kernel's own region is not the caller's to change: not its
            // direct map, not its text (where the fault handler runs).
            XCTAssertCallFails(try guest.call(MapPage(virtual: ready.directMapBase + 0x5000, frame: .allocate, flags: [])),
                               .kernelPage(address: ready.directMapBase + 0x5000))
            let text = ready.kernelVirtualBase + ready.kernelPhysicalStart
            XCTAssertCallFails(try guest.call(UnmapPage(virtual: text, freeFrame: false)), .kernelPage(address: text))

            // Unmap everything the scenario mapped; the tables it built go back.
            let before = try guest.call(ReadPagemapCounts())
            let stats = try guest.call(ReadFrameStatistics())
            for (address, _) in scenario {
                XCTAssertEqual(try guest.call(UnmapPage(virtual: address, freeFrame: true)), frames[address]!)
            }
            XCTAssertCallFails(try guest.call(UnmapPage(virtual: 0x4000_0000, freeFrame: true)),
                               .unmap(.notMapped(page: 0x4000_0000, level: 4)))  // its tables are gone too
            for address in probes { try assertAgree(guest, cr3: cr3, address) }
            let after = try guest.call(ReadPagemapCounts())
            let freedTables = after.tablesFreed - before.tablesFreed
            XCTAssertEqual(after.tablesCreated, before.tablesCreated, "unmapping builds no table")
            XCTAssertEqual(freedTables, 12, "PML4 slot 0: a PDPT, a PD and two PTs; slot 1: three; slot 254: three, and a PD and PT more for its top page")
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, stats.free + UInt64(scenario.count) + freedTables,
                           "the frames and the emptied tables are free again")
        }
    }

    func testKernelImagePermissionsSeenByTheHostWalker() throws {
        try onEachBackend { _ in
            let (guest, ready) = try boot()
            let cr3 = ready.pageTableRoot
            let image = try ELFImage(bytes: GuestImage.kernel())
            let kernelSegments = image.segments.filter { $0.virtualAddress >= ready.kernelVirtualBase }
            XCTAssertEqual(kernelSegments.count, 3, "text, rodata, data")
            for segment in kernelSegments {
                let lastPage = (segment.virtualAddress + segment.memorySize - 1) & ~0xFFF
                for address in [segment.virtualAddress, lastPage] {
                    let walk = try guest.walk(address, cr3: cr3)
                    guard case .mapped(let physical, _, let access) = walk.outcome else {
                        XCTFail("\(walk)")
                        continue
                    }
                    XCTAssertEqual(physical, address - ready.kernelVirtualBase, "linked at physical + base")
                    XCTAssertEqual(access.writable, segment.permissions & 2 != 0, "\(walk)")
                    XCTAssertEqual(access.executable, segment.permissions & 1 != 0, "\(walk)")
                    XCTAssertFalse(access.user, "the kernel region is supervisor-only: \(walk)")
                }
            }
            // The 32-bit entry and the bootstrap tables are not mapped anywhere below the kernel region.
            for address: UInt64 in [0, 0x1000, 0x100000, 0x4000_0000, 0x0000_7F00_0000_0000] {
                XCTAssertEqual(try guest.walk(address, cr3: cr3).outcome, .notPresent(level: address >= 0x0000_7F80_0000_0000 ? 3 : 4))
            }
            // The direct map: read-write, no-execute, 2 MiB pages.
            let direct = try guest.walk(ready.directMapBase + 0x20_1234, cr3: cr3)
            XCTAssertEqual(direct.outcome, .mapped(physical: 0x20_1234, pageSize: 2 << 20,
                                                   access: .init(writable: true, user: false, executable: false)))
            // The heap: one 2 MiB page, read-write, no-execute.
            let heap = try guest.walk(ready.heapStart, cr3: cr3)
            XCTAssertEqual(heap.outcome, .mapped(physical: ready.heapStart - ready.kernelVirtualBase, pageSize: 2 << 20,
                                                 access: .init(writable: true, user: false, executable: false)))
        }
    }

    func testPageFaultReportCarriesTheHostWalk() throws {
        try onEachBackend { _ in
            let (guest, ready) = try boot()
            do {
                _ = try guest.call(RaiseException(.pageFault(address: 0x4000_0123)))
                XCTFail("expected a page fault")
            } catch let failure as GuestFailure {
                let walk = try XCTUnwrap(failure.walk)
                XCTAssertEqual(walk.virtual, 0x4000_0123)
                XCTAssertEqual(walk.steps.first?.tableAddress, ready.pageTableRoot)
                XCTAssertEqual(walk.outcome, .notPresent(level: 4))
                XCTAssertTrue(failure.description.contains("walk of 0x40000123"), failure.description)
                // The kernel's own walk read the same entries as the host's.
                guard case .exception(let report) = failure.kind else { return XCTFail("\(failure)") }
                XCTAssertEqual(report.guestWalk.entries, walk.steps.map(\.entry))
                XCTAssertEqual(report.guestWalk.count, 1, "PML4[0] is empty in the kernel's address space")
            }
        }
    }
}

/// Kernel-mode access checks in the manner of kvm-unit-tests' x86/access.c:
/// the guest observes the real MMU through its page-fault path and reads
/// back the accessed and dirty bits; the host predicts with the guest's own
/// model (the same source, compiled natively) under the modes the kernel
/// turned on.
/// Calls whose invalidations the TLB checker holds the kernel to: each
/// would fail its call with a stale translation if the kernel left it out
/// (scripts/mutate-flushes builds such kernels).
final class PagemapInvalidationLiveTests: GuestBehaviourTestCase {
    /// A writable page mapped beside a read-only one widens the tables above
    /// both, which the kernel must invalidate: both pages translate with
    /// their own flags, and the guest's and the host's walks agree.
    func testAWiderPageBesideANarrowOneIsInvalidated() throws {
        try onEachBackend { _ in
            let (guest, ready) = try readyGuest()
            let narrow: UInt64 = 0x0000_0300_0000_0000, wide = narrow + 0x1000
            _ = try guest.call(MapPage(virtual: narrow, frame: .allocate, flags: [.noExecute]))
            _ = try guest.call(MapPage(virtual: wide, frame: .allocate, flags: [.writable, .noExecute]))
            for (address, writable) in [(narrow, false), (wide, true)] {
                guard case .mapped(_, let flags, _) = try guest.call(Translate(virtual: address)) else {
                    return XCTFail("0x\(String(address, radix: 16)) is not mapped")
                }
                XCTAssertEqual(flags.contains(.writable), writable)
                guard case .mapped(_, _, let access) = try guest.walk(address, cr3: ready.pageTableRoot).outcome else {
                    return XCTFail("the host finds no mapping at 0x\(String(address, radix: 16))")
                }
                XCTAssertEqual(access.writable, writable)
            }
            for address in [narrow, wide] { _ = try guest.call(UnmapPage(virtual: address, freeFrame: true)) }
        }
    }

    /// An eager reservation beside a read-only one widens the tables
    /// they share, which the kernel must invalidate for each page it maps:
    /// the eager pages translate writable for the guest and the host alike.
    func testAWiderEagerReservationBesideANarrowOneIsInvalidated() throws {
        try onEachBackend { _ in
            let (guest, ready) = try readyGuest()
            let narrow = try guest.call(ReserveSpace(pages: 1, backing: .eager, flags: [.noExecute]))
            let wide = try guest.call(ReserveSpace(pages: 2, backing: .eager, flags: [.writable, .noExecute]))
            XCTAssertEqual(wide, narrow + 0x1000, "in the same page table")
            for address in [wide, wide + 0x1000] {
                guard case .mapped(_, let flags, _) = try guest.call(Translate(virtual: address)) else {
                    return XCTFail("0x\(String(address, radix: 16)) is not mapped")
                }
                XCTAssertTrue(flags.contains(.writable))
                guard case .mapped(_, _, let access) = try guest.walk(address, cr3: ready.pageTableRoot).outcome else {
                    return XCTFail("the host finds no mapping at 0x\(String(address, radix: 16))")
                }
                XCTAssertTrue(access.writable)
            }
            XCTAssertEqual(try guest.call(FreeSpace(start: wide)), 2, "its two frames")
            XCTAssertEqual(try guest.call(FreeSpace(start: narrow)), 4, "its frame, and the PDPT, PD and PT made for both")
        }
    }

    /// The Pagemap benchmark's loop, small: 600 pages across two page
    /// tables mapped, translated and unmapped, with the tables it makes and
    /// frees, and the sum of the translations (every page onto one frame).
    func testThePagemapBenchmarkLoopMapsTranslatesAndUnmapsEveryPage() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let mapped = try guest.call(RunPagemapBenchmark(phase: .map, count: 600))
            XCTAssertEqual(mapped, .init(tablesCreated: 4, tablesFreed: 0, checksum: 0), "a PDPT, a PD and two PTs")
            let translated = try guest.call(RunPagemapBenchmark(phase: .translate, count: 600))
            XCTAssertEqual(translated.tablesCreated, 0)
            XCTAssertEqual(translated.checksum % 600, 0, "600 translations of one frame")
            XCTAssertNotEqual(translated.checksum, 0)
            let unmapped = try guest.call(RunPagemapBenchmark(phase: .unmap, count: 600))
            XCTAssertEqual(unmapped, .init(tablesCreated: 0, tablesFreed: 4, checksum: 0))
            XCTAssertCallFails(try guest.call(RunPagemapBenchmark(phase: .unmap, count: 1)),
                               .unmap(.notMapped(page: benchmarkBase, level: 4)))
        }
    }
}

final class AccessCheckLiveTests: GuestBehaviourTestCase {
    func testTheMMUDoesWhatTheModelPredictsForEveryCombination() throws {
        try onEachBackend { backend in
            let quirks = try MMUQuirks.of(backend)
            try CPUVariants.forEach(on: backend) { guest, model, cpu in
                let run = AccessCheckRun(
                    total: AccessCheck.count,
                    call: { try guest.call(RunAccessChecks(first: $0, count: $1), timeout: .seconds(60)) },
                    predict: { index in
                        let check = AccessCheck(index: index)
                        return (quirks.expectedFault(check.predictedFault(model)), check.access,
                                "leaf \(check.leaf) parent \(check.parent) \(check.access) WP \(check.writeProtect) AC \(check.alignmentCheckFlag)")
                    })
                let faults = try run.compare(context: "\(backend) \(cpu)")
                XCTAssertGreaterThan(faults, 800, "\(cpu)")
                XCTAssertLessThan(faults, AccessCheck.count, "some accesses are allowed under \(cpu)")
            }
        }
    }

    /// 2 MiB and 1 GiB leaves, with and without a reserved bit (bit 13,
    /// inside the address field below the leaf's alignment; bit MAXPHYADDR),
    /// against the same model: RSVD for a reserved bit, and for the huge flag
    /// of a PDPT entry where CPUID has no pdpe1gb.
    func testHugeLeavesAndReservedBitsFaultAsTheModelPredicts() throws {
        try onEachBackend { backend in
            let quirks = try MMUQuirks.of(backend)
            try CPUVariants.forEach(on: backend) { guest, model, cpu in
                let run = AccessCheckRun(
                    total: HugeLeafCheck.count,
                    call: { try guest.call(RunHugeLeafChecks(first: $0, count: $1), timeout: .seconds(60)) },
                    predict: { index in
                        let check = HugeLeafCheck(index: index)
                        let fault = check.predictedFault(quirks.walkModes(model))
                        return (quirks.expectedFault(fault), check.access,
                                "\(check.pageSize >> 20) MiB leaf \(check.leaf) reserved \(check.reserved) \(check.access) WP \(check.writeProtect)")
                    },
                    leafAccessedOnFault: { quirks.leafAccessedOnFault(HugeLeafCheck(index: $0), model) })
                let faults = try run.compare(context: "\(backend) \(cpu)")
                let reservedFaults = (0..<HugeLeafCheck.count).filter {
                    (HugeLeafCheck(index: $0).predictedFault(model) ?? 0) & PageFaultError.reservedBit != 0
                }.count
                // At least every present leaf with a reserved bit: 2 sizes x 8 flags x 6 (accesses, WP) a bit.
                XCTAssertGreaterThanOrEqual(reservedFaults, 2 * 8 * 6 * (model.physicalAddressBits < 52 ? 2 : 1), "\(cpu)")
                XCTAssertLessThan(faults, HugeLeafCheck.count, "some accesses are allowed under \(cpu)")
            }
        }
    }

    /// A chunk past the end, or larger than a reply holds, is refused by name.
    func testAChunkOutOfRangeIsRefused() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            XCTAssertThrowsError(try guest.call(RunAccessChecks(first: 3000, count: 100))) {
                XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .runAccessChecks, reason: .failed(.tooMany(requested: 3100, limit: 3072))), "\($0)")
            }
            XCTAssertThrowsError(try guest.call(RunAccessChecks(first: 0, count: 1025))) {
                XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .runAccessChecks, reason: .failed(.tooMany(requested: 1025, limit: 1024))), "\($0)")
            }
            XCTAssertThrowsError(try guest.call(RunUserAccessChecks(first: .max, count: 2))) {
                XCTAssertEqual($0 as? GuestCallError, GuestCallError(call: .runUserAccessChecks, reason: .failed(.tooMany(requested: .max, limit: 768))), "\($0)")
            }
            XCTAssertEqual(try guest.call(RunAccessChecks(first: 3071, count: 1)).count, 1, "the last combination")
        }
    }
}

/// A memory space in the live kernel: lazy and eager reservations and frees.
final class MemorySpaceLiveTests: GuestBehaviourTestCase {
    func testLazyAndEagerReservationsInTheLiveKernel() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            let ready = try guest.boot()
            let flags: PageTableFlags = [.writable, .noExecute]
            XCTAssertEqual(try guest.call(ReserveSpace(pages: 10, backing: .eager, flags: flags)), testSpaceBase)
            XCTAssertEqual(try guest.call(ReserveSpace(pages: 1000, backing: .lazy, flags: flags)), testSpaceBase + 10 * 4096)
            for page in 0..<10 as Range<UInt64> {
                let walk = try guest.walk(testSpaceBase + page * 4096, cr3: ready.pageTableRoot)
                guard case .mapped(_, _, let access) = walk.outcome else { return XCTFail("\(walk)") }
                XCTAssertEqual(access, .init(writable: true, user: false, executable: false))
            }
            XCTAssertEqual(try guest.walk(testSpaceBase + 10 * 4096, cr3: ready.pageTableRoot).outcome, .notPresent(level: 1),
                           "a lazy reservation maps nothing")
            let query = try guest.call(QuerySpace(address: testSpaceBase + 500 * 4096))
            XCTAssertEqual(query.reservation, .init(start: testSpaceBase + 10 * 4096, pageCount: 1000, backing: .lazy))

            XCTAssertEqual(try guest.call(FreeSpace(start: testSpaceBase)), 13,
                           "its ten frames, and its PT, PD and PDPT: the lazy range mapped no table")
            XCTAssertEqual(try guest.walk(testSpaceBase, cr3: ready.pageTableRoot).outcome, .notPresent(level: 4))
            XCTAssertEqual(try guest.call(QuerySpace(address: testSpaceBase)).reservation, nil)
            XCTAssertCallFails(try guest.call(FreeSpace(start: testSpaceBase)), .memorySpace(.notReserved(address: testSpaceBase)))
        }
    }
}

/// No call maps a frame the kernel owns writable or user-accessible, and no
/// frame a call mapped is freed while the mapping stands (`CallMappings`).
final class KernelFrameProtectionTests: GuestBehaviourTestCase {
    func testKernelFramesAreNeverMappedWritableOrUserAccessible() throws {
        try onEachBackend { _ in
            // The kernel lets a call map its page tables read-only, which the
            // host's page-table check names (a page table mapped as a page):
            // checked below by hand, not after each call.
            var configuration = LiveGuest.Configuration()
            configuration.checkPageTablesAfterCalls = false
            let (guest, ready) = try readyGuest(configuration: configuration)
            let statistics = try guest.call(ReadFrameStatistics())
            var kernelFrames: [(String, UInt64)] = [("the page-table root", ready.pageTableRoot),
                                                    ("the kernel image's first frame", ready.kernelPhysicalStart),
                                                    ("a kernel image frame", ready.kernelPhysicalStart + 0x9000),
                                                    ("the frame bitmap", statistics.bitmapPhysical)]
            for reservation in statistics.reservations where reservation.end > reservation.start {
                kernelFrames.append(("the \(reservation.kind) reservation", reservation.start))
            }
            // A PDPT of the kernel's, from the host's walk of the kernel's own region.
            let walk = try guest.walk(ready.kernelVirtualBase + ready.kernelPhysicalStart, cr3: ready.pageTableRoot)
            let pdpt = try XCTUnwrap(walk.steps.dropFirst().first?.tableAddress)
            kernelFrames.append(("the kernel region's PDPT", pdpt))
            let page: UInt64 = 0x6000_0000
            for (name, physical) in kernelFrames {
                let frame = physical & ~0xFFF
                for flags: PageTableFlags in [[.writable], [.user], [.writable, .user], [.user, .noExecute]] {
                    XCTAssertCallFails(try guest.call(MapPage(virtual: page, frame: .existing(physical: frame), flags: flags)),
                                       .kernelFrame(address: frame), "\(name) with \(flags)")
                }
                // Read-only for the kernel itself: a way to read it, allowed.
                XCTAssertEqual(try guest.call(MapPage(virtual: page, frame: .existing(physical: frame), flags: [.noExecute])), frame, name)
                let isTable = frame == ready.pageTableRoot || frame == pdpt
                XCTAssertEqual(try guest.checkPageTables().violations.map(\.rule), isTable ? [.pageTableMappedAsPage] : [], name)
                XCTAssertEqual(try guest.call(UnmapPage(virtual: page, freeFrame: false)), frame, name)
                XCTAssertEqual(try guest.checkPageTables().violations, [], name)
            }
        }
    }

    /// A free frame mapped writable could be handed out while mapped: to
    /// a page table, even the one the same map creates.
    func testAFreeFrameIsNeverMappedWritableOrUserAccessible() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let free = try XCTUnwrap(try guest.call(AllocateFrames(count: 1)).first)
            _ = try guest.call(FreeFrame(address: free))
            for flags: PageTableFlags in [[.writable], [.user], [.writable, .user]] {
                XCTAssertCallFails(try guest.call(MapPage(virtual: 0x6000_0000, frame: .existing(physical: free), flags: flags)),
                                   .unallocatedFrame(address: free), "\(flags)")
            }
            XCTAssertEqual(try guest.call(QueryFrame(address: free)).isFree, true, "nothing was taken")
        }
    }

    func testAFrameIsNeverFreedUnderACallsMapping() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let frame = try XCTUnwrap(try guest.call(AllocateFrames(count: 1)).first)
            let pages: [UInt64] = (0..<3).map { 0x6000_0000 + $0 * 0x1000 }
            for (index, page) in pages.enumerated() {
                XCTAssertEqual(try guest.call(MapPage(virtual: page, frame: .existing(physical: frame), flags: [.writable])), frame)
                XCTAssertCallFails(try guest.call(FreeFrame(address: frame)),
                                   .frameStillMapped(address: frame, virtual: page, mappings: UInt64(index + 1)), "after \(index + 1) maps")
            }
            // A free with an unmap takes its own mapping away, not the others.
            XCTAssertCallFails(try guest.call(UnmapPage(virtual: pages[0], freeFrame: true)),
                               .frameStillMapped(address: frame, virtual: pages[2], mappings: 2))
            XCTAssertEqual(try guest.call(UnmapPage(virtual: pages[0], freeFrame: false)), frame)
            XCTAssertEqual(try guest.call(UnmapPage(virtual: pages[1], freeFrame: false)), frame)
            XCTAssertCallFails(try guest.call(FreeFrame(address: frame)), .frameStillMapped(address: frame, virtual: pages[2], mappings: 1))
            XCTAssertEqual(try guest.call(UnmapPage(virtual: pages[2], freeFrame: true)), frame)
            XCTAssertCallFails(try guest.call(FreeFrame(address: frame)), .frame(.doubleFree(frame: frame >> 12)))

            // A frame MapPage took from the allocator is the mapping's too.
            let taken = try guest.call(MapPage(virtual: 0x6100_0000, frame: .allocate, flags: [.writable]))
            XCTAssertCallFails(try guest.call(FreeFrame(address: taken)), .frameStillMapped(address: taken, virtual: 0x6100_0000, mappings: 1))
            XCTAssertEqual(try guest.call(UnmapPage(virtual: 0x6100_0000, freeFrame: true)), taken)
        }
    }

    /// A memory space is not released while a call maps one of its frames:
    /// the frame would go back to the allocator, and on to a page table,
    /// under a page the host mapped writable and user-accessible.
    func testAMemorySpaceIsNotReleasedUnderACallsMappingOfItsFrame() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let start = try guest.call(ReserveSpace(pages: 3, backing: .eager, flags: [.writable, .noExecute]))
            guard case .mapped(let frame, _, _) = try guest.call(Translate(virtual: start + 0x2000)) else { return XCTFail("not backed") }
            _ = try guest.call(MapPage(virtual: 0x1000, frame: .existing(physical: frame), flags: [.writable, .user]))
            XCTAssertCallFails(try guest.call(FreeSpace(start: start)), .frameStillMapped(address: frame, virtual: 0x1000, mappings: 1))
            XCTAssertEqual(try guest.call(Translate(virtual: start + 0x2000)), .mapped(physical: frame, flags: [.present, .writable, .noExecute], pageSize: 4096),
                           "the reservation stands")
            XCTAssertEqual(try guest.call(UnmapPage(virtual: 0x1000, freeFrame: false)), frame)
            XCTAssertEqual(try guest.call(FreeSpace(start: start)), 6, "its three frames and the three tables made for it go back once nothing else maps them")
        }
    }

    /// A memory space's pages are its own: no call maps or unmaps one (an
    /// unmap took its frame out of the release, which then lost it).
    func testAMemorySpacesPagesAreNotTheCallsToMapOrUnmap() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            let before = try guest.call(ReadFrameStatistics()).used
            let eager = try guest.call(ReserveSpace(pages: 2, backing: .eager, flags: [.writable, .noExecute]))
            let lazy = try guest.call(ReserveSpace(pages: 4, backing: .lazy, flags: [.writable, .noExecute]))
            for (page, start) in [(eager, eager), (eager + 0x1000, eager), (lazy + 0x3000, lazy)] {
                XCTAssertCallFails(try guest.call(UnmapPage(virtual: page, freeFrame: false)), .memorySpacePage(address: page, reservation: start))
                XCTAssertCallFails(try guest.call(MapPage(virtual: page, frame: .allocate, flags: [])), .memorySpacePage(address: page, reservation: start))
            }
            _ = try guest.call(FreeSpace(start: eager))
            _ = try guest.call(FreeSpace(start: lazy))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).used, before, "every frame came back")
        }
    }

    /// Many frames mapped at once, and taken away in another order: every
    /// free is refused exactly while its frame is mapped (the kernel's table
    /// grows and closes its gaps on the way).
    func testTheCountOfManyMappingsHoldsInAnyOrder() throws {
        try onEachBackend { _ in
            let (guest, _) = try readyGuest()
            var frames: [UInt64] = []
            while frames.count < 300 { frames += try guest.call(AllocateFrames(count: UInt64(min(64, 300 - frames.count)))) }
            let base: UInt64 = 0x6200_0000
            for (index, frame) in frames.enumerated() {
                _ = try guest.call(MapPage(virtual: base + UInt64(index) * 0x1000, frame: .existing(physical: frame), flags: []))
            }
            // Unmapped in a scrambled order: every third from the end, then the rest.
            let order = stride(from: frames.count - 1, through: 0, by: -3).map { $0 }
                + (0..<frames.count).filter { ($0 - (frames.count - 1)) % 3 != 0 }
            var unmapped = Set<Int>(), freed = Set<Int>()
            for (step, index) in order.enumerated() {
                XCTAssertEqual(try guest.call(UnmapPage(virtual: base + UInt64(index) * 0x1000, freeFrame: false)), frames[index])
                unmapped.insert(index)
                if step % 25 == 0 || step == order.count - 1 {
                    for probe in [index, (index + 1) % frames.count, (index * 7) % frames.count] {
                        if freed.contains(probe) {
                            XCTAssertCallFails(try guest.call(FreeFrame(address: frames[probe])), .frame(.doubleFree(frame: frames[probe] >> 12)),
                                               "step \(step): frame \(probe)")
                        } else if unmapped.contains(probe) {
                            XCTAssertNoThrow(try guest.call(FreeFrame(address: frames[probe])), "step \(step): frame \(probe)")
                            freed.insert(probe)
                        } else {
                            XCTAssertCallFails(try guest.call(FreeFrame(address: frames[probe])),
                                               .frameStillMapped(address: frames[probe], virtual: base + UInt64(probe) * 0x1000, mappings: 1),
                                               "step \(step): frame \(probe)")
                        }
                    }
                }
            }
        }
    }
}

/// The MMU quirks are asked of the running QEMU, not assumed from a version:
/// on QEMU 7.2 (where they were measured) the probe finds all three; on KVM
/// there are none to find.
final class MMUQuirksProbeTests: GuestBehaviourTestCase {
    func testTheProbeFindsWhatWasMeasured() throws {
        try onEachBackend { backend in
            let quirks = try MMUQuirks.of(backend)
            guard backend == .tcg else { return XCTAssertEqual(quirks, MMUQuirks(), "\(backend)") }
            let version = Process()
            version.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            version.arguments = ["qemu-system-x86_64", "--version"]
            let output = Pipe()
            version.standardOutput = output
            try version.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            version.waitUntilExit()
            print("MMU quirks of \(text.split(separator: "\n").first ?? "QEMU"): \(quirks)")
            guard text.contains("version 7.2.") else { return }
            var measured = MMUQuirks()
            measured.reservedBitFaultClearsPresent = true
            measured.gigabyteLeavesWithoutPDPE1GB = true
            measured.gigabyteLeafAccessedOnFault = true
            XCTAssertEqual(quirks, measured)
        }
    }
}
