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

    /// A fragmented machine from `random`: RAM from 0 holding the kernel,
    /// then pieces of 1 page to 4 MiB with gaps between (some tiny, some far
    /// above 4 GiB), and reserved pieces inside RAM away from the kernel.
    private func fragmentedMachine(_ random: inout SplitMix64) -> (ram: [Range<UInt64>], holes: [Range<UInt64>]) {
        let page: UInt64 = 4096
        var ram: [Range<UInt64>] = [0..<(UInt64.random(in: 2048...4096, using: &random) * page)]  // 8 to 16 MiB
        var cursor = ram[0].upperBound
        for _ in 0..<Int.random(in: 3...10, using: &random) {
            let gap = [page, 16 * page, 0x20_0000, 0x4000_0000].randomElement(using: &random)! * UInt64.random(in: 1...3, using: &random)
            cursor += gap
            if Bool.random(using: &random), cursor < 1 << 32 { cursor = (1 << 32) + UInt64.random(in: 0...64, using: &random) * 0x10_0000 }
            let length = [1, 3, 64, 512, 1024].randomElement(using: &random)! * page
            ram.append(cursor..<(cursor + length))
            cursor += length
        }
        var holes: [Range<UInt64>] = []
        for range in ram where range.count >= 8 * Int(page) {
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                // Clear of the boot page, the kernel image and its bitmap.
                let low = max(range.lowerBound, range.lowerBound == 0 ? 0x60_0000 : 0)
                guard low + 2 * page < range.upperBound else { continue }
                let start = UInt64.random(in: (low / page)...((range.upperBound - 2 * page) / page), using: &random) * page
                let hole = start..<min(start + UInt64.random(in: 1...4, using: &random) * page, range.upperBound)
                if !holes.contains(where: { $0.overlaps(hole) || $0.upperBound == hole.lowerBound || hole.upperBound == $0.lowerBound }) {
                    holes.append(hole)
                }
            }
        }
        return (ram, holes.sorted { $0.lowerBound < $1.lowerBound })
    }

    /// Random fragmented maps from a seed (KVMHOST_TEST_SEED replays one):
    /// the kernel hands out every usable frame exactly once, each marked by
    /// writing it through the direct map, and never a reserved one, checked
    /// by reading every range of RAM against the map the host wrote.
    func testFragmentedMapsHandOutEveryUsableFrameOnce() throws {
        try requireKVM()
        var random = SplitMix64(state: seed)
        for round in 0..<8 {
            let (ram, holes) = fragmentedMachine(&random)
            let context = "round \(round) (seed \(seed)): RAM \(ram.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound)))" }), holes \(holes.count)"
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(ram: ram, memoryHoles: holes))
            let ready = try guest.boot()
            XCTAssertEqual(ready.droppedMemoryRanges, 0, context)
            let before = try guest.call(ReadFrameStatistics())
            let usable = Set(guest.memoryMap.usableRanges.flatMap { stride(from: $0.lowerBound, to: $0.upperBound, by: 4096) })
            XCTAssertEqual(before.usable, UInt64(usable.count), context)
            let exhausted = try guest.call(ExhaustFrames(), timeout: .seconds(60))
            XCTAssertEqual(exhausted.count, before.free, context)
            var marked: [UInt64] = []
            for range in ram {
                for address in stride(from: range.lowerBound, to: range.upperBound, by: 4096)
                where try guest.memory.load(UInt64.self, at: address) == ExhaustFrames.marker ^ address {
                    marked.append(address)
                }
            }
            XCTAssertEqual(UInt64(marked.count), exhausted.count, "each frame handed out once: \(context)")
            let bad = marked.filter { address in
                !usable.contains(address) || holes.contains { $0.contains(address) } || before.reservations.contains { $0.range.contains(address) }
            }
            XCTAssertEqual(bad.map { hex($0) }, [], "frames handed out that are not usable RAM: \(context)")
            // What was not handed out is exactly what the kernel holds.
            let taken = before.reservations.reduce(0) { $0 + $1.framesTaken }
            XCTAssertEqual(UInt64(usable.count) - UInt64(marked.count), taken + before.kernelPageTables, context)
            XCTAssertTrue(marked.contains { $0 >= 1 << 32 } == ram.contains { $0.upperBound > 1 << 32 }, "frames above 4 GiB: \(context)")
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
