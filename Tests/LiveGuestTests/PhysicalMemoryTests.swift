import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The guest's frame allocator, built from the memory map KVMHost handed it,
/// checked against the host's own view of the machine.
final class PhysicalMemoryTests: XCTestCase {
    private func boot(memory: Int = 64 << 20, holes: [Range<UInt64>] = []) throws -> (LiveGuest, ReadyReport) {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: memory, memoryHoles: holes))
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
        let configurations: [(Int, [Range<UInt64>])] = [
            (16 << 20, []), (64 << 20, []), (1 << 30, []), (64 << 20, [0x800000..<0xA00000, 0x3000000..<0x3001000]),
        ]
        for (memory, holes) in configurations {
            let (guest, ready) = try boot(memory: memory, holes: holes)
            let stats = try guest.frameStatistics()
            let usable = usableFrames(guest.memoryMap)
            let context = "\(memory >> 20) MiB, holes \(holes)"
            XCTAssertEqual(stats.total, UInt64(memory) >> 12, context)
            XCTAssertEqual(stats.usable, UInt64(usable.count), context)
            XCTAssertEqual(stats.used, stats.kernelPageTables, "only the kernel's page tables are in use: \(context)")
            XCTAssertGreaterThanOrEqual(stats.kernelPageTables, 4, "at least PML4, PDPT, PD, PT")
            XCTAssertEqual(stats.free + stats.used + stats.reserved, stats.total, context)
            let taken = stats.reservations.reduce(0) { $0 + $1.framesTaken }
            XCTAssertEqual(stats.free, UInt64(usable.count) - taken - stats.kernelPageTables, context)

            // Item by item.
            XCTAssertEqual(stats.reservation(ReservationKind.pageZero)?.range, 0..<0x1000)
            XCTAssertEqual(stats.reservation(ReservationKind.pageZero)?.framesTaken, 0, "the host already marked page 0 reserved")
            let image = try XCTUnwrap(stats.reservation(ReservationKind.kernelImage))
            XCTAssertEqual(image.range, ready.kernelPhysicalStart..<ready.kernelPhysicalEnd)
            let tables = try XCTUnwrap(stats.reservation(ReservationKind.bootstrapTables))
            XCTAssertTrue(image.range.contains(tables.range.lowerBound) && tables.range.upperBound <= image.range.upperBound)
            XCTAssertEqual(tables.framesTaken, UInt64(tables.range.count) >> 12, "reserved before the rest of the image")
            XCTAssertEqual(image.framesTaken + tables.framesTaken, UInt64(image.range.count) >> 12)
            XCTAssertEqual(stats.reservation(ReservationKind.startInfo)?.range, 0x1000..<0x2000)
            XCTAssertEqual(stats.reservation(ReservationKind.startInfo)?.framesTaken, 1)
            XCTAssertEqual(stats.reservation(ReservationKind.memoryMap)?.framesTaken, 0, "the map shares start info's page")
            let words = (UInt64(memory >> 12) + 63) / 64
            XCTAssertEqual(stats.bitmapBytes, (words + 2 * ((words + 63) / 64)) * 8, "1 bit a frame plus 2 bits a 64-frame word")
            let bitmap = try XCTUnwrap(stats.reservation(ReservationKind.frameBitmap))
            XCTAssertEqual(bitmap.range.lowerBound, stats.bitmapPhysical)
            XCTAssertEqual(bitmap.framesTaken, (stats.bitmapBytes + 4095) >> 12)
            XCTAssertTrue(guest.memoryMap.isUsableRAM(bitmap.range), context)
            XCTAssertFalse(bitmap.range.overlaps(image.range))
            for hole in holes {
                let reply = try guest.execute(.queryFrame(address: hole.lowerBound))
                XCTAssertEqual(reply.values[FrameQueryWord.isReserved], 1, "hole \(hole)")
                XCTAssertEqual(reply.values[FrameQueryWord.isFree], 0)
            }
        }
    }

    func testExhaustionHandsOutEveryUsableFrameOnceThenFreeingGivesThemAllBack() throws {
        let holes: [Range<UInt64>] = [0x800000..<0xA00000]
        let (guest, ready) = try boot(memory: 32 << 20, holes: holes)
        let before = try guest.frameStatistics()
        let exhausted = try guest.execute(.exhaustFrames, timeout: .seconds(60))
        XCTAssertEqual(exhausted.values[0], before.free, "every free frame was handed out")

        // Find every frame the guest marked, by reading guest memory.
        let memory = guest.vm.memory
        var marked: [UInt64] = []
        for frame in 0..<before.total {
            let address = frame << 12
            if try memory.load(UInt64.self, at: address) == exhaustionMarker ^ address { marked.append(address) }
        }
        XCTAssertEqual(UInt64(marked.count), exhausted.values[0], "no frame was handed out twice")
        XCTAssertEqual(marked.first, exhausted.values[1])
        XCTAssertEqual(marked.last, exhausted.values[2])
        let usable = usableFrames(guest.memoryMap)
        for address in marked {
            XCTAssertTrue(usable.contains(address >> 12), "\(address) is usable RAM")
            XCTAssertFalse((ready.kernelPhysicalStart..<ready.kernelPhysicalEnd).contains(address), "\(address) is in the kernel image")
            XCTAssertFalse(holes.contains { $0.contains(address) }, "\(address) is in a hole")
            XCTAssertFalse(before.reservations.contains { $0.range.contains(address) }, "\(address) was reserved")
        }
        // Exhaustion is clean: no frame, no hang, no fault.
        XCTAssertEqual(try guest.execute(.allocateFrames(count: 1)).values, [])
        XCTAssertEqual(try guest.execute(.allocateContiguous(count: 1, alignment: 1)).values, [noFrame])
        XCTAssertEqual(try guest.frameStatistics().free, 0)

        XCTAssertEqual(try guest.execute(.freeExhausted, timeout: .seconds(60)).values, [before.free])
        XCTAssertEqual(try guest.frameStatistics().free, before.free)
        let again = try guest.execute(.exhaustFrames, timeout: .seconds(60))
        XCTAssertEqual(again.values[0], before.free)
    }

    func testOutOfMemoryWhereTheKernelNeedsAFramePanicsNamingTheRequest() throws {
        let (guest, _) = try boot(memory: 16 << 20)
        _ = try guest.execute(.exhaustFrames, timeout: .seconds(60))
        let report = panic { _ = try guest.execute(.requireFrame) }
        XCTAssertEqual(report?.reason, "out of physical memory: a frame the host required")
    }

    func testFreeErrorsBecomeKernelPanicReports() throws {
        let (guest, ready) = try boot()
        let frame = try XCTUnwrap(guest.execute(.allocateFrames(count: 1)).values.first)
        _ = try guest.execute(.freeFrame(address: frame))
        XCTAssertEqual(panic { _ = try guest.execute(.freeFrame(address: frame)) },
                       PanicReport(reason: "frame free: double free", value: frame))

        let (second, _) = try boot()
        XCTAssertEqual(panic { _ = try second.execute(.freeFrame(address: ready.kernelPhysicalStart)) },
                       PanicReport(reason: "frame free: reserved frame", value: ready.kernelPhysicalStart))
        let (third, _) = try boot()
        XCTAssertEqual(panic { _ = try third.execute(.freeFrame(address: 1 << 40)) },
                       PanicReport(reason: "frame free: outside physical memory", value: 1 << 40))
    }

    func testAllocatedFramesAreUniqueUsableAndKnownZeroUntilHandedOut() throws {
        let (guest, ready) = try boot()
        let stats = try guest.frameStatistics()
        let high = UInt64(64 << 20) - 0x10000
        let fresh = try guest.execute(.queryFrame(address: high)).values
        XCTAssertEqual(fresh, [1, 0, 0], "free, not reserved, known zero")
        XCTAssertEqual(try guest.execute(.queryFrame(address: 0x5000)).values[FrameQueryWord.mustZero], 1,
                       "below 1 MiB firmware may have written")
        XCTAssertEqual(try guest.execute(.queryFrame(address: ready.kernelPhysicalStart)).values, [0, 1, 0])

        let frames = try guest.execute(.allocateFrames(count: 300)).values
        XCTAssertEqual(frames.count, 300)
        XCTAssertEqual(Set(frames).count, 300)
        let usable = usableFrames(guest.memoryMap)
        for frame in frames {
            XCTAssertEqual(frame % 4096, 0)
            XCTAssertTrue(usable.contains(frame >> 12))
            XCTAssertFalse(stats.reservations.contains { $0.range.contains(frame) })
            XCTAssertEqual(try guest.execute(.queryFrame(address: frame)).values[FrameQueryWord.mustZero], 1, "handed out: may hold data")
        }
        XCTAssertEqual(try guest.frameStatistics().used, 300 + stats.kernelPageTables)

        let huge = try XCTUnwrap(guest.execute(.allocateContiguous(count: 512, alignment: 512)).values.first)
        XCTAssertNotEqual(huge, noFrame)
        XCTAssertEqual(huge % (2 << 20), 0, "2 MiB aligned")
        XCTAssertTrue(guest.memoryMap.isUsableRAM(huge..<huge + (2 << 20)))
        XCTAssertTrue(Set(frames).isDisjoint(with: stride(from: huge, to: huge + (2 << 20), by: 4096)))
        XCTAssertEqual(try guest.frameStatistics().used, 812 + stats.kernelPageTables)
    }
}
