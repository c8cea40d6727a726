import MemoryManager
import SeededRandom
import XCTest

/// The kernel's boot path, `init(frameCount:zeroedStorage:usable:)`, against
/// the allocator built frame range by frame range: the same storage, word
/// for word, and the same answers, for random maps.
final class FrameAllocatorBootTests: XCTestCase {
    /// Disjoint usable ranges with gaps (some of one frame), in random order.
    private func randomMap(_ random: inout SplitMix64) -> (frameCount: UInt64, usable: [FrameRange]) {
        var ranges: [FrameRange] = []
        var cursor = UInt64.random(in: 0...70, using: &random)
        for _ in 0..<Int.random(in: 1...40, using: &random) {
            let count = [1, 2, 63, 64, 65, 130, 4096, 5000].randomElement(using: &random)!
            ranges.append(FrameRange(start: cursor, count: UInt64(count)))
            cursor += UInt64(count) + [1, 3, 64, 4096, 10_000].randomElement(using: &random)!
        }
        // Frames past the last range, sometimes: the map's top is not RAM.
        let frameCount = ranges.last!.end + (Bool.random(using: &random) ? UInt64.random(in: 0...200, using: &random) : 0)
        return (frameCount, ranges.shuffled(using: &random))
    }

    func testTheBootPathBuildsTheSameAllocatorAsAddingEachRange() {
        var random = SplitMix64(state: 0x0B00_7000)
        for round in 0..<100 {
            let (frameCount, usable) = randomMap(&random)
            let reference = FrameAllocatorHarness(frameCount: frameCount, usable: usable)
            let words = FrameAllocator.storageWords(frameCount: frameCount)
            let storage = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
            defer { storage.deallocate() }
            storage.initialize(repeating: 0, count: words)
            var list = FrameRangeList(capacity: usable.count)
            for range in usable { XCTAssertTrue(list.append(range)) }
            var booted = FrameAllocator(frameCount: frameCount, zeroedStorage: storage, usable: list, reservedCapacity: 8)

            let context = "round \(round): \(frameCount) frames, \(usable.count) ranges"
            XCTAssertEqual((0..<words).map { storage[$0] }, (0..<words).map { reference.storage[$0] }, "storage word for word: \(context)")
            XCTAssertEqual(booted.freeFrames, reference.allocator.freeFrames, context)
            XCTAssertEqual(booted.usableFrames, reference.allocator.usableFrames, context)
            XCTAssertEqual(booted.reservedFrames, reference.allocator.reservedFrames, context)
            XCTAssertEqual(booted.droppedRanges, 0, context)
            for frame in stride(from: UInt64(0), to: frameCount + 2, by: 1) where frame % 7 == 0 || frame >= frameCount - 2 {
                XCTAssertEqual(booted.isReserved(Frame(number: frame)), reference.allocator.isReserved(Frame(number: frame)), "\(frame): \(context)")
            }
            // Both hand out the same frames, in the same order, to the last.
            while true {
                let next = booted.allocate()
                XCTAssertEqual(next, reference.allocator.allocate(), context)
                guard next != nil else { break }
            }
        }
    }

    /// Overlapping and touching ranges, in any order, count once.
    func testOverlappingRangesAreMergedOnce() {
        let words = FrameAllocator.storageWords(frameCount: 1000)
        let storage = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        defer { storage.deallocate() }
        storage.initialize(repeating: 0, count: words)
        var list = FrameRangeList(capacity: 4)
        for range in [FrameRange(start: 500, count: 100), FrameRange(start: 10, count: 90), FrameRange(start: 50, count: 100),
                      FrameRange(start: 600, count: 500)] {
            XCTAssertTrue(list.append(range))
        }
        let allocator = FrameAllocator(frameCount: 1000, zeroedStorage: storage, usable: list, reservedCapacity: 1)
        XCTAssertEqual(allocator.usableRangeCount, 2, "[10, 150) and [500, 1000), clamped")
        XCTAssertEqual(allocator.usableRange(0), FrameRange(start: 10, count: 140))
        XCTAssertEqual(allocator.usableRange(1), FrameRange(start: 500, count: 500))
        XCTAssertEqual(allocator.usableFrames, 640)
        XCTAssertEqual(allocator.freeFrames, 640)
        XCTAssertEqual(allocator.usableFrames(from: 520), 480)
        XCTAssertTrue(allocator.isReserved(Frame(number: 9)))
        XCTAssertFalse(allocator.isReserved(Frame(number: 149)))
        XCTAssertTrue(allocator.isReserved(Frame(number: 150)))
    }
}
