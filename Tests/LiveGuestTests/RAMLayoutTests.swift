import GuestImage
import GuestProtocol
import KVMHost
import SeededRandom
import TestSupport
import XCTest

/// Guest RAM as real machines lay it out: split around the 32-bit hole,
/// far above 4 GiB, and in fragmented maps with reserved pieces and tiny
/// RAM pieces. The host checks the kernel against the map it wrote.
final class RAMLayoutTests: GuestBehaviourTestCase {
    var seed: UInt64 {
        ProcessInfo.processInfo.environment["KVMHOST_TEST_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0016
    }

    /// 64 GiB: 3 GiB below the hole and 61 GiB from 4 GiB, nothing of it
    /// touched on the host but what the kernel wrote; the allocator counts
    /// every usable frame, and memory from the top of RAM is handed out.
    func testSixtyFourGiBSplitAroundTheHole() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 64 << 30))
        let ready = try guest.boot(timeout: .seconds(30))
        XCTAssertEqual(guest.memory.ram, [0..<0xC000_0000, 0x1_0000_0000..<0x10_4000_0000])
        XCTAssertEqual(ready.memoryMap.entries, guest.memoryMap.entries)
        let stats = try guest.call(ReadFrameStatistics())
        XCTAssertEqual(stats.total, 0x10_4000_0000 >> 12, "frames up to the end of RAM, the hole counted reserved")
        XCTAssertEqual(stats.usable, (64 << 30) / 4096 - 1 - 96, "all but page 0 and the legacy hole")
        XCTAssertEqual(guest.memoryMap.usableFrames(from: 1 << 32), (61 << 30) / 4096)
        XCTAssertEqual(stats.free + stats.used + stats.reserved, stats.total)
        XCTAssertEqual(try guest.call(QueryFrame(address: 0xC000_0000)), .init(isFree: false, isReserved: true, mustZero: false),
                       "the hole is no frame of the allocator's")
        XCTAssertEqual(try guest.call(QueryFrame(address: 0x10_3FFF_F000)), .init(isFree: true, isReserved: false, mustZero: false),
                       "the last frame, free and known zero")
        XCTAssertCallFails(try guest.call(FreeFrame(address: 0xFFFF_F000)), .frame(.reservedFrame(frame: 0xFFFF_F000 >> 12)))
        // Host memory: only what the kernel and the host wrote is resident.
        let resident = try residentBytes(of: guest.memory)
        XCTAssertLessThan(resident, 64 << 20, "\(resident >> 20) MiB of 64 GiB resident")
    }

    /// RAM of 3.5 GiB, the least that splits, on each backend: the same
    /// ranges (QEMU's pc machine splits as GuestRAM does), and page tables
    /// the kernel builds in frames from above 4 GiB, written through its
    /// direct map and found there by the host's walker.
    func testRAMAboveTheHoleIsTheKernelsOnEachBackend() throws {
        try onEachBackend { backend in
            let guest = try liveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 0xE000_0000))
            let ready = try guest.boot(timeout: .seconds(30))
            XCTAssertEqual(guest.memory.ram, [0..<0xC000_0000, 0x1_0000_0000..<0x1_2000_0000])
            let above = guest.memoryMap.usableRanges.filter { $0.lowerBound >= 1 << 32 }
            XCTAssertEqual(above, [0x1_0000_0000..<0x1_2000_0000], "RAM from 4 GiB in the map the guest got")
            let stats = try guest.call(ReadFrameStatistics())
            XCTAssertEqual(stats.usable, guest.memoryMap.usableFrames())
            // Take the 2 MiB runs below 4 GiB (next fit hands out upward),
            // then single frames up to the first above 4 GiB.
            var run = try XCTUnwrap(guest.call(AllocateContiguousFrames(count: 512, alignment: 512)))
            while run < 0xBF00_0000 { run = try XCTUnwrap(guest.call(AllocateContiguousFrames(count: 512, alignment: 512))) }
            while try guest.call(AllocateFrames(count: 1))[0] < 1 << 32 {}
            // A mapping where no table exists yet: a new PDPT, PD and PT.
            let virtual: UInt64 = 0x5000_0000_0000
            let frame = try guest.call(MapPage(virtual: virtual, frame: .allocate, flags: [.writable]))
            let walk = try guest.walk(virtual, cr3: ready.pageTableRoot)
            XCTAssertEqual(walk.outcome, .mapped(physical: frame, pageSize: 4096, access: .init(writable: true, user: false, executable: true)))
            let tables = walk.steps.filter { $0.level < 4 }.map(\.tableAddress)
            XCTAssertEqual(tables.count, 3)
            XCTAssertTrue(tables.allSatisfy { $0 >= 1 << 32 } && frame >= 1 << 32, "tables \(tables.map { hex($0) }), frame \(hex(frame))")
            guard case .mapped(let physical, _, _) = try guest.call(Translate(virtual: virtual + 0x123)) else {
                return XCTFail("the kernel's own walk does not find the page")
            }
            XCTAssertEqual(physical, frame + 0x123)
        }
    }

    /// The host's resident bytes of `memory`: pages of its mapping in RAM.
    private func residentBytes(of memory: GuestMemory) throws -> Int {
        var total = 0
        for range in memory.ram {
            total += try memory.residentBytes(in: range)
        }
        return total
    }
}

private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
