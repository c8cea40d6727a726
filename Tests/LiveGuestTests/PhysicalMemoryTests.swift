import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The guest's frame allocator, built from the memory map KVMHost handed it,
/// checked against the host's own view of the machine.
final class PhysicalMemoryTests: GuestBehaviourTestCase {
    private func boot(memory: Int = 64 << 20, holes: [Range<UInt64>] = []) throws -> (LiveGuest, ReadyRecord) {
        let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: memory, memoryHoles: holes))
        return (guest, try guest.boot())
    }

    /// Usable frames by the host's memory map: whole frames inside RAM entries.
    private func usableFrames(_ map: PhysicalMemoryMap) -> Set<UInt64> {
        var frames = Set<UInt64>()
        for entry in map.entries where entry.isRAM {
            frames.formUnion(((entry.base + 4095) >> 12)..<(entry.end >> 12))
        }
        return frames
    }

    /// Frames the kernel counts: up to the end of the highest RAM. On kvm the
    /// whole memory; QEMU's firmware keeps the top of RAM for its tables.
    private func frameCount(_ map: PhysicalMemoryMap) -> UInt64 {
        (map.entries.filter(\.isRAM).map(\.end).max() ?? 0) >> 12
    }

    private func panic(of body: () throws -> Void, line: UInt = #line) -> PanicReport? {
        do {
            try body()
        } catch let failure as GuestFailure {
            if case .panic(let report) = failure.kind { return report }
            XCTFail("\(failure)", line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
        return nil
    }

    func testFreeCountIsUsableRAMLessWhatTheKernelReservedItemByItem() throws {
        try onEachBackend { backend in
            let configurations: [(Int, [Range<UInt64>])] = [
                (16 << 20, []), (64 << 20, []), (1 << 30, []), (64 << 20, [0x800000..<0xA00000, 0x3000000..<0x3001000]),
            ]
            // QEMU's pc machine takes no holes of ours.
            for (memory, holes) in configurations where backend == .kvm || holes.isEmpty {
                let (guest, ready) = try boot(memory: memory, holes: holes)
                let stats = try guest.call(ReadFrameStatistics())
                let usable = usableFrames(guest.memoryMap)
                let context = "\(memory >> 20) MiB, holes \(holes)"
                XCTAssertEqual(stats.total, frameCount(guest.memoryMap), context)
                if backend == .kvm { XCTAssertEqual(stats.total, UInt64(memory) >> 12, context) }
                XCTAssertEqual(stats.usable, UInt64(usable.count), context)
                XCTAssertEqual(stats.used, stats.kernelPageTables, "only the kernel's page tables are in use: \(context)")
                XCTAssertGreaterThanOrEqual(stats.kernelPageTables, 4, "at least PML4, PDPT, PD, PT")
                XCTAssertEqual(stats.free + stats.used + stats.reserved, stats.total, context)
                let taken = stats.reservations.reduce(0) { $0 + $1.framesTaken }
                XCTAssertEqual(stats.free, UInt64(usable.count) - taken - stats.kernelPageTables, context)

                // Item by item.
                XCTAssertEqual(stats.reservation(.pageZero)?.range, 0..<0x1000)
                // KVMHost marks page 0 reserved; QEMU's map has it as RAM.
                XCTAssertEqual(stats.reservation(.pageZero)?.framesTaken, usable.contains(0) ? 1 : 0, context)
                let image = try XCTUnwrap(stats.reservation(.kernelImage))
                XCTAssertEqual(image.range, ready.kernelPhysicalStart..<ready.kernelPhysicalEnd)
                let tables = try XCTUnwrap(stats.reservation(.bootstrapTables))
                XCTAssertTrue(image.range.contains(tables.range.lowerBound) && tables.range.upperBound <= image.range.upperBound)
                XCTAssertEqual(tables.framesTaken, UInt64(tables.range.count) >> 12, "reserved before the rest of the image")
                XCTAssertEqual(image.framesTaken + tables.framesTaken, UInt64(image.range.count) >> 12)
                let startInfoPage = ready.startInfoPhysical & ~0xFFF
                XCTAssertEqual(stats.reservation(.startInfo)?.range, startInfoPage..<(startInfoPage + 0x1000))
                XCTAssertEqual(stats.reservation(.startInfo)?.framesTaken, 1)
                // KVMHost puts the map in start info's page, QEMU's option ROM in page 0.
                XCTAssertEqual(stats.reservation(.memoryMap)?.framesTaken, 0, "the map shares a page already reserved")
                let words = (stats.total + 63) / 64
                XCTAssertEqual(stats.bitmapBytes, (words + 2 * ((words + 63) / 64)) * 8, "1 bit a frame plus 2 bits a 64-frame word")
                let bitmap = try XCTUnwrap(stats.reservation(.frameBitmap))
                XCTAssertEqual(bitmap.range.lowerBound, stats.bitmapPhysical)
                XCTAssertEqual(bitmap.framesTaken, (stats.bitmapBytes + 4095) >> 12)
                XCTAssertTrue(guest.memoryMap.isUsableRAM(bitmap.range), context)
                XCTAssertFalse(bitmap.range.overlaps(image.range))
                for hole in holes {
                    XCTAssertEqual(try guest.call(QueryFrame(address: hole.lowerBound)),
                                   .init(isFree: false, isReserved: true, mustZero: false), "hole \(hole)")
                }
            }
        }
    }

    func testExhaustionHandsOutEveryUsableFrameOnceThenFreeingGivesThemAllBack() throws {
        try onEachBackend { backend in
            // On tcg, QEMU's own map (its reserved pieces) stands for the hole.
            let holes: [Range<UInt64>] = backend == .kvm ? [0x800000..<0xA00000] : []
            let (guest, ready) = try boot(memory: 32 << 20, holes: holes)
            let before = try guest.call(ReadFrameStatistics())
            let exhausted = try guest.call(ExhaustFrames(), timeout: .seconds(60))
            XCTAssertEqual(exhausted.count, before.free, "every free frame was handed out")

            // Find every frame the guest marked, by reading guest memory.
            let memory = guest.memory
            var marked: [UInt64] = []
            for frame in 0..<before.total {
                let address = frame << 12
                if try memory.load(UInt64.self, at: address) == ExhaustFrames.marker ^ address { marked.append(address) }
            }
            XCTAssertEqual(UInt64(marked.count), exhausted.count, "no frame was handed out twice")
            XCTAssertEqual(marked.first, exhausted.lowest)
            XCTAssertEqual(marked.last, exhausted.highest)
            let usable = usableFrames(guest.memoryMap)
            for address in marked {
                XCTAssertTrue(usable.contains(address >> 12), "\(address) is usable RAM")
                XCTAssertFalse((ready.kernelPhysicalStart..<ready.kernelPhysicalEnd).contains(address), "\(address) is in the kernel image")
                XCTAssertFalse(holes.contains { $0.contains(address) }, "\(address) is in a hole")
                XCTAssertFalse(before.reservations.contains { $0.range.contains(address) }, "\(address) was reserved")
            }
            // Exhaustion is clean: no frame, no hang, no fault.
            XCTAssertEqual(try guest.call(AllocateFrames(count: 1)), [])
            XCTAssertEqual(try guest.call(AllocateContiguousFrames(count: 1, alignment: 1)), nil)
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, 0)

            XCTAssertEqual(try guest.call(FreeExhaustedFrames(), timeout: .seconds(60)), before.free)
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before.free)
            let again = try guest.call(ExhaustFrames(), timeout: .seconds(60))
            XCTAssertEqual(again.count, before.free)
        }
    }

    func testOutOfMemoryWhereTheKernelNeedsAFramePanicsNamingTheRequest() throws {
        try onEachBackend { _ in
            let (guest, _) = try boot(memory: 16 << 20)
            _ = try guest.call(ExhaustFrames(), timeout: .seconds(60))
            let report = panic { _ = try guest.call(RequireFrame()) }
            XCTAssertEqual(report?.reason, "out of physical memory: a frame the host required")
        }
    }

    /// A free asked from outside the kernel is refused with the allocator's
    /// reason, and the kernel goes on: nothing was freed.
    func testRefusedFreesAreTypedErrorsAndChangeNothing() throws {
        try onEachBackend { _ in
            let (guest, ready) = try boot()
            let frame = try XCTUnwrap(guest.call(AllocateFrames(count: 1)).first)
            XCTAssertEqual(try guest.call(FreeFrame(address: frame)), Done())
            let free = try guest.call(ReadFrameStatistics()).free
            XCTAssertCallFails(try guest.call(FreeFrame(address: frame)), .frame(.doubleFree(frame: frame >> 12)))
            XCTAssertCallFails(try guest.call(FreeFrame(address: ready.kernelPhysicalStart)),
                               .frame(.reservedFrame(frame: ready.kernelPhysicalStart >> 12)))
            XCTAssertCallFails(try guest.call(FreeFrame(address: 1 << 40)),
                               .frame(.outOfRange(frame: 1 << 28, frameCount: frameCount(guest.memoryMap))))
            XCTAssertCallFails(try guest.call(FreeFrame(address: frame + 8)), .misalignedFrame(address: frame + 8))
            // The kernel's live tables: its PML4, and the PDPT of its region.
            XCTAssertCallFails(try guest.call(FreeFrame(address: ready.pageTableRoot)), .pageTableFrame(address: ready.pageTableRoot))
            let pdpt = try guest.memory.load(UInt64.self, at: ready.pageTableRoot + 255 * 8) & 0x000F_FFFF_FFFF_F000
            XCTAssertCallFails(try guest.call(FreeFrame(address: pdpt)), .pageTableFrame(address: pdpt))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, free)
            XCTAssertEqual(try guest.call(AllocateFrames(count: 1)), [frame], "the frame is free once, and handed out again")
        }
    }

    func testAllocatedFramesAreUniqueUsableAndKnownZeroUntilHandedOut() throws {
        try onEachBackend { _ in
            let (guest, ready) = try boot()
            let stats = try guest.call(ReadFrameStatistics())
            let high = frameCount(guest.memoryMap) << 12 - 0x10000
            XCTAssertEqual(try guest.call(QueryFrame(address: high)), .init(isFree: true, isReserved: false, mustZero: false),
                           "free, not reserved, known zero")
            XCTAssertEqual(try guest.call(QueryFrame(address: 0x5000)).mustZero, true, "below 1 MiB firmware may have written")
            XCTAssertEqual(try guest.call(QueryFrame(address: ready.kernelPhysicalStart)),
                           .init(isFree: false, isReserved: true, mustZero: false))

            XCTAssertCallFails(try guest.call(AllocateFrames(count: AllocateFrames.limit + 1)),
                               .tooMany(requested: AllocateFrames.limit + 1, limit: AllocateFrames.limit))
            let frames = try guest.call(AllocateFrames(count: 300))
            XCTAssertEqual(frames.count, 300)
            XCTAssertEqual(Set(frames).count, 300)
            let usable = usableFrames(guest.memoryMap)
            for frame in frames {
                XCTAssertEqual(frame % 4096, 0)
                XCTAssertTrue(usable.contains(frame >> 12))
                XCTAssertFalse(stats.reservations.contains { $0.range.contains(frame) })
                XCTAssertEqual(try guest.call(QueryFrame(address: frame)).mustZero, true, "handed out: may hold data")
            }
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).used, 300 + stats.kernelPageTables)

            let huge = try XCTUnwrap(guest.call(AllocateContiguousFrames(count: 512, alignment: 512)))
            XCTAssertEqual(huge % (2 << 20), 0, "2 MiB aligned")
            XCTAssertTrue(guest.memoryMap.isUsableRAM(huge..<huge + (2 << 20)))
            XCTAssertTrue(Set(frames).isDisjoint(with: stride(from: huge, to: huge + (2 << 20), by: 4096)))
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).used, 812 + stats.kernelPageTables)
        }
    }
    /// The kernel's 99%-full measurement (kvmbench's live row): both searches
    /// find the same frame, the lowest of the 1% left free, which ends on a
    /// bitmap word boundary; and afterwards every frame is back as it was.
    func testFrameSearchAtNinetyNinePercentFullFindsTheFreeOnePercentAndGivesEverythingBack() throws {
        try onEachBackend { backend in
            let holes: [Range<UInt64>] = backend == .kvm ? [0x800000..<0xA00000, 0x1800000..<0x1801000] : []
            let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 96 << 20, memoryHoles: holes))
            _ = try guest.boot()
            let before = try guest.call(ReadFrameStatistics())
            let measured = try guest.call(MeasureFrameSearch(), timeout: .seconds(60))
            XCTAssertEqual(measured.usableFrames, before.usable)
            XCTAssertEqual(measured.freeFrames, before.free / 100, "1% of the free frames left free")
            XCTAssertEqual(measured.nextFitFrame, measured.linearScanFrame, "both find the lowest free frame")
            XCTAssertEqual((measured.nextFitFrame + measured.freeFrames) % 64, 0, "the free 1% ends on a bitmap word")
            XCTAssertLessThanOrEqual(measured.nextFitFrame + measured.freeFrames + 64, before.total)
            XCTAssertTrue(usableFrames(guest.memoryMap).isSuperset(of: measured.nextFitFrame..<measured.nextFitFrame + measured.freeFrames))
            XCTAssertGreaterThan(measured.totalCycles, measured.nextFitCycles + measured.linearScanCycles)

            let after = try guest.call(ReadFrameStatistics())
            XCTAssertEqual(after.free, before.free, "every frame the fill took is back")
            XCTAssertEqual(after.used, before.used)
            let frame = try XCTUnwrap(guest.call(AllocateFrames(count: 1)).first)
            XCTAssertEqual(try guest.call(QueryFrame(address: frame)), .init(isFree: false, isReserved: false, mustZero: true),
                           "handed out by the fill: it may hold data")
            let again = try guest.call(MeasureFrameSearch(), timeout: .seconds(60))
            XCTAssertEqual(again.freeFrames, (before.free - 1) / 100, "the measurement repeats")
            XCTAssertEqual(again.nextFitFrame, again.linearScanFrame)
        }
    }
    /// A map with no run of free frames that holds the 1% and a word above
    /// it cannot be measured: refused, every frame given back.
    func testFrameSearchOnAMapTooFragmentedIsRefusedAndLosesNothing() throws {
        try onEachBackend { backend in
            guard backend == .kvm else { throw XCTSkip("memory holes are kvm's: QEMU's pc machine takes none") }
            let (_, ready) = try boot(memory: 16 << 20)
            // A 4 KiB hole every 256 KiB from just above the kernel: no run of 161 free frames.
            let first = (ready.kernelPhysicalEnd + 0x3FFFF) & ~0x3FFFF
            let holes = stride(from: first, to: 16 << 20, by: 0x40000).map { $0..<($0 + 0x1000) }
            let (guest, _) = try boot(memory: 16 << 20, holes: holes)
            let before = try guest.call(ReadFrameStatistics())
            XCTAssertCallFails(try guest.call(MeasureFrameSearch(), timeout: .seconds(60)), .outOfFrames)
            let after = try guest.call(ReadFrameStatistics())
            XCTAssertEqual(after.free, before.free, "every frame the fill took is back")
            XCTAssertEqual(after.used, before.used)
            XCTAssertEqual(try guest.call(Echo([1])).values, [1], "the kernel goes on")
        }
    }
}
