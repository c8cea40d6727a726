import MemoryManager
import SeededRandom
import XCTest

final class FrameAllocatorTests: XCTestCase {
    // MARK: - Boundaries

    func testEveryFrameOnceForSizesThatAreNotMultiplesOf64() {
        for frameCount: UInt64 in [1, 2, 63, 64, 65, 127, 129, 4095, 4097, 4160] {
            let harness = FrameAllocatorHarness(frameCount: frameCount, usable: [FrameRange(start: 0, count: frameCount)])
            var seen = Set<UInt64>()
            while let frame = harness.allocator.allocate() {
                XCTAssertLessThan(frame.number, frameCount)
                XCTAssertTrue(seen.insert(frame.number).inserted, "frame \(frame.number) handed out twice")
            }
            XCTAssertEqual(UInt64(seen.count), frameCount, "\(frameCount) frames")
            XCTAssertTrue(seen.contains(0) && seen.contains(frameCount - 1), "first and last frame")
            XCTAssertEqual(harness.allocator.freeFrames, 0)
            XCTAssertNil(harness.allocator.allocate())
        }
    }

    func testRangeEndingExactlyAtTheEndOfMemory() {
        let harness = FrameAllocatorHarness(frameCount: 200, usable: [FrameRange(start: 190, count: 10)])
        var frames: [UInt64] = []
        while let frame = harness.allocator.allocate() { frames.append(frame.number) }
        XCTAssertEqual(frames.sorted(), Array(190..<200))
        // A range past the end is cut at the end, not beyond.
        let clipped = FrameAllocatorHarness(frameCount: 100, usable: [FrameRange(start: 90, count: 50)])
        XCTAssertEqual(clipped.allocator.freeFrames, 10)
    }

    func testHolesInTheMiddleAreNeverHandedOut() {
        let harness = FrameAllocatorHarness(frameCount: 300, usable: [FrameRange(start: 0, count: 100), FrameRange(start: 200, count: 100)],
                                            reserved: [FrameRange(start: 0, count: 1), FrameRange(start: 250, count: 3)])
        XCTAssertEqual(harness.allocator.freeFrames, 196)
        XCTAssertEqual(harness.allocator.reservedFrames, 104)
        var frames = Set<UInt64>()
        while let frame = harness.allocator.allocate() { frames.insert(frame.number) }
        XCTAssertEqual(frames, Set(Array(1..<100) + Array(200..<250) + Array(253..<300)))
    }

    func testPartialFramesAtRangeEndsAreNotUsable() {
        XCTAssertEqual(FrameRange(inside: 0x1001, end: 0x3FFF), FrameRange(start: 2, count: 1))
        XCTAssertEqual(FrameRange(inside: 0x1000, end: 0x4000), FrameRange(start: 1, count: 3))
        XCTAssertEqual(FrameRange(inside: 0x1800, end: 0x1900).count, 0)
        XCTAssertEqual(FrameRange(covering: 0x1001, end: 0x3001), FrameRange(start: 1, count: 3))
        XCTAssertEqual(FrameRange(covering: 0x1000, end: 0x1000).count, 0)
    }

    func testReservingTwiceCountsOnce() {
        var harness = FrameAllocatorHarness(frameCount: 128, usable: [FrameRange(start: 0, count: 128)])
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 10, count: 10)), 10)
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 15, count: 10)), 5)
        XCTAssertEqual(harness.allocator.freeFrames, 113)
        XCTAssertEqual(harness.allocator.reservedFrames, 15)
        harness = FrameAllocatorHarness(frameCount: 128, usable: [FrameRange(start: 64, count: 64)])
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 60, count: 8)), 4, "only usable frames are taken from the count")
    }

    /// Whole words all free, all used and mixed each count right, as do
    /// the partial words at either end.
    func testReservationCountsWholeAndPartialWords() {
        let harness = FrameAllocatorHarness(frameCount: 512, usable: [FrameRange(start: 0, count: 448)])
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 64, count: 64)), 64, "a whole free word")
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 130, count: 1)), 1)
        // Words: 0 free, 1 used, 2 all but one, 3 free, 4 and 5 free, 6 free
        // up to frame 448 then not usable, 7 never usable; from 3 to 500.
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 3, count: 497)), 61 + 0 + 63 + 64 + 64 + 64 + 64)
        XCTAssertEqual(harness.allocator.freeFrames, 3)
        XCTAssertEqual(harness.allocator.reserve(FrameRange(start: 0, count: 512)), 3)
    }

    // MARK: - Errors

    func testDoubleFreeReservedAndOutOfRangeAreTypedErrorsThatChangeNothing() throws {
        let harness = FrameAllocatorHarness(frameCount: 100, usable: [FrameRange(start: 1, count: 80)],
                                            reserved: [FrameRange(start: 40, count: 2)])
        let frame = try XCTUnwrap(harness.allocator.allocate())
        try harness.allocator.free(frame)
        let free = harness.allocator.freeFrames
        XCTAssertThrowsError(try harness.allocator.free(frame)) { XCTAssertEqual($0 as? FrameError, .doubleFree(frame: frame.number)) }
        XCTAssertThrowsError(try harness.allocator.free(Frame(number: 40))) { XCTAssertEqual($0 as? FrameError, .reservedFrame(frame: 40)) }
        XCTAssertThrowsError(try harness.allocator.free(Frame(number: 0))) { XCTAssertEqual($0 as? FrameError, .reservedFrame(frame: 0)) }
        XCTAssertThrowsError(try harness.allocator.free(Frame(number: 90))) { XCTAssertEqual($0 as? FrameError, .reservedFrame(frame: 90)) }
        XCTAssertThrowsError(try harness.allocator.free(Frame(number: 100))) {
            XCTAssertEqual($0 as? FrameError, .outOfRange(frame: 100, frameCount: 100))
        }
        XCTAssertEqual(harness.allocator.freeFrames, free)
    }

    func testRangeFreeIsAllOrNothing() throws {
        let harness = FrameAllocatorHarness(frameCount: 256, usable: [FrameRange(start: 0, count: 256)])
        let block = try XCTUnwrap(harness.allocator.allocateContiguous(count: 10))
        try harness.allocator.free(Frame(number: block.number + 9))
        let free = harness.allocator.freeFrames
        XCTAssertThrowsError(try harness.allocator.free(FrameRange(start: block.number, count: 10))) {
            XCTAssertEqual($0 as? FrameError, .doubleFree(frame: block.number + 9))
        }
        XCTAssertEqual(harness.allocator.freeFrames, free)
        XCTAssertFalse(harness.allocator.isFree(block))
        try harness.allocator.free(FrameRange(start: block.number, count: 9))
        XCTAssertEqual(harness.allocator.freeFrames, 256)
    }

    /// A range free checks a word at a time; it must refuse with the error a
    /// frame-by-frame check in frame order gives, for ranges across holes,
    /// reserved pieces, free frames and the end of memory, and change nothing.
    func testRangeFreeRefusesAtTheFirstBadFrameAsAFrameByFrameCheckWould() throws {
        for seed: UInt64 in 1...6 {
            var random = SplitMix64(state: seed)
            let frameCount = UInt64.random(in: 200...3000, using: &random)
            var usable: [FrameRange] = []
            var cursor = UInt64.random(in: 0...70, using: &random)
            while cursor < frameCount {
                let length = UInt64.random(in: 1...300, using: &random)
                usable.append(FrameRange(start: cursor, count: min(length, frameCount - cursor)))
                cursor += length + UInt64.random(in: 0...130, using: &random)
            }
            let reserved = (0..<4).map { _ in
                FrameRange(start: UInt64.random(in: 0..<frameCount, using: &random), count: UInt64.random(in: 1...90, using: &random))
            }
            let harness = FrameAllocatorHarness(frameCount: frameCount, usable: usable, reserved: reserved)
            // Take about two thirds of the frames, in runs, so used and free frames alternate.
            while let frame = harness.allocator.allocate(), Double(harness.allocator.freeFrames) > Double(harness.allocator.usableFrames) / 3 {
                if Bool.random(using: &random) { try harness.allocator.free(frame) }
            }
            for trial in 0..<400 {
                let start = UInt64.random(in: 0...(frameCount + 10), using: &random)
                let range = FrameRange(start: start, count: UInt64.random(in: 0...200, using: &random))
                var expected: FrameError?
                for frame in range.start..<range.end where expected == nil {
                    if frame >= frameCount {
                        expected = .outOfRange(frame: frame, frameCount: frameCount)
                    } else if harness.allocator.isReserved(Frame(number: frame)) {
                        expected = .reservedFrame(frame: frame)
                    } else if harness.allocator.isFree(Frame(number: frame)) {
                        expected = .doubleFree(frame: frame)
                    }
                }
                let free = harness.allocator.freeFrames
                do {
                    try harness.allocator.free(range)
                    XCTAssertNil(expected, "seed \(seed) trial \(trial): \(range) was freed")
                    XCTAssertEqual(harness.allocator.freeFrames, free + range.count)
                    for frame in range.start..<range.end { XCTAssertTrue(harness.allocator.isFree(Frame(number: frame))) }
                } catch {
                    XCTAssertEqual(error, expected, "seed \(seed) trial \(trial): \(range)")
                    XCTAssertEqual(harness.allocator.freeFrames, free, "a refused free changes nothing")
                }
            }
        }
    }

    // MARK: - Contiguous

    func testTwoMegabyteAlignedRuns() throws {
        // 8 MiB with frame 600 taken: the first 2 MiB-aligned run of 512 starts at 1024.
        let harness = FrameAllocatorHarness(frameCount: 2048, usable: [FrameRange(start: 0, count: 2048)],
                                            reserved: [FrameRange(start: 600, count: 1)])
        let huge = try XCTUnwrap(harness.allocator.allocateContiguous(count: 512, alignment: 512))
        XCTAssertEqual(huge.number, 0)
        let second = try XCTUnwrap(harness.allocator.allocateContiguous(count: 512, alignment: 512))
        XCTAssertEqual(second.number, 1024)
        let third = try XCTUnwrap(harness.allocator.allocateContiguous(count: 512, alignment: 512))
        XCTAssertEqual(third.number, 1536)
        XCTAssertNil(harness.allocator.allocateContiguous(count: 512, alignment: 512))
        XCTAssertEqual(harness.allocator.freeFrames, 2047 - 1536)
        XCTAssertNil(harness.allocator.allocateContiguous(count: 3, alignment: 3), "alignment must be a power of two")
    }

    // MARK: - Known zero

    func testFramesNeverHandedOutNeedNoZeroing() throws {
        let harness = FrameAllocatorHarness(frameCount: 256, usable: [FrameRange(start: 0, count: 256)])
        XCTAssertFalse(harness.allocator.mustZero(Frame(number: 5)))
        let frame = try XCTUnwrap(harness.allocator.allocate())
        XCTAssertTrue(harness.allocator.mustZero(frame))
        try harness.allocator.free(frame)
        XCTAssertTrue(harness.allocator.mustZero(frame), "freed frames may hold data")
        XCTAssertFalse(harness.allocator.mustZero(Frame(number: 200)))
        harness.allocator.markTouched(FrameRange(start: 199, count: 2))
        XCTAssertTrue(harness.allocator.mustZero(Frame(number: 200)))
        let block = try XCTUnwrap(harness.allocator.allocateContiguous(count: 64, alignment: 64))
        XCTAssertTrue(harness.allocator.mustZero(Frame(number: block.number + 63)))
    }

    func testTrackingMemoryIsOneBitPerFramePlusAtMostAThirtySecond() {
        let frames: UInt64 = 4 << 20
        let bitmapBytes = frames / 8
        XCTAssertLessThanOrEqual(FrameAllocator.storageBytes(frameCount: frames), bitmapBytes + bitmapBytes / 32)
    }

    // MARK: - Model

    /// Thousands of random operations checked against a plain Set model.
    func testRandomOperationsAgreeWithASetModel() throws {
        for seed: UInt64 in [1, 2, 3, 4] {
            var random = SplitMix64(state: seed)
            let frameCount = UInt64.random(in: 300...5000, using: &random)
            var usable: [FrameRange] = []
            var cursor: UInt64 = 1
            while cursor < frameCount {
                let length = UInt64.random(in: 1...600, using: &random)
                usable.append(FrameRange(start: cursor, count: min(length, frameCount - cursor)))
                cursor += length + UInt64.random(in: 0...100, using: &random)
            }
            let reserved = (0..<3).map { _ in FrameRange(start: UInt64.random(in: 0..<frameCount, using: &random), count: UInt64.random(in: 1...30, using: &random)) }
            let harness = FrameAllocatorHarness(frameCount: frameCount, usable: usable, reserved: reserved)
            var available = Set<UInt64>()
            for range in usable { available.formUnion(range.start..<range.end) }
            for range in reserved { available.subtract(range.start..<min(range.end, frameCount)) }
            XCTAssertEqual(harness.allocator.freeFrames, UInt64(available.count))

            var allocated = Set<UInt64>()
            var blocks: [FrameRange] = []
            for step in 0..<3000 {
                let choice = Int.random(in: 0..<100, using: &random)
                switch choice {
                case 0..<55:
                    if let frame = harness.allocator.allocate() {
                        XCTAssertTrue(available.contains(frame.number), "seed \(seed) step \(step): \(frame.number) is not available")
                        XCTAssertTrue(allocated.insert(frame.number).inserted, "seed \(seed) step \(step): \(frame.number) twice")
                    } else {
                        XCTAssertEqual(allocated.count, available.count, "nil only when nothing is free")
                    }
                case 55..<65:
                    let count = UInt64.random(in: 1...40, using: &random)
                    let alignment = [1, 2, 8, 64][Int.random(in: 0..<4, using: &random)] as UInt64
                    if let first = harness.allocator.allocateContiguous(count: count, alignment: alignment) {
                        XCTAssertEqual(first.number % alignment, 0)
                        for frame in first.number..<first.number + count {
                            XCTAssertTrue(available.contains(frame) && allocated.insert(frame).inserted, "seed \(seed): run frame \(frame)")
                        }
                        blocks.append(FrameRange(start: first.number, count: count))
                    } else {
                        let free = available.subtracting(allocated)
                        let exists = stride(from: 0, to: frameCount, by: Int(alignment)).contains { start in
                            start + count <= frameCount && (start..<start + count).allSatisfy(free.contains)
                        }
                        XCTAssertFalse(exists, "seed \(seed): a run of \(count) aligned to \(alignment) existed")
                    }
                case 65..<90:
                    if !blocks.isEmpty && Bool.random(using: &random) {
                        let block = blocks.remove(at: Int.random(in: 0..<blocks.count, using: &random))
                        try harness.allocator.free(block)
                        allocated.subtract(block.start..<block.end)
                    } else if let frame = allocated.randomElement(using: &random) {
                        try harness.allocator.free(Frame(number: frame))
                        allocated.remove(frame)
                        blocks.removeAll { $0.contains(frame) }
                    }
                default:
                    let free = harness.allocator.freeFrames
                    let unusable = (0..<frameCount).first { !available.contains($0) }
                    if let frame = available.subtracting(allocated).randomElement(using: &random) {
                        XCTAssertThrowsError(try harness.allocator.free(Frame(number: frame))) {
                            XCTAssertEqual($0 as? FrameError, .doubleFree(frame: frame))
                        }
                    }
                    if let unusable {
                        XCTAssertThrowsError(try harness.allocator.free(Frame(number: unusable))) {
                            XCTAssertEqual($0 as? FrameError, .reservedFrame(frame: unusable))
                        }
                    }
                    XCTAssertEqual(harness.allocator.freeFrames, free)
                }
                XCTAssertEqual(harness.allocator.usedFrames, UInt64(allocated.count), "seed \(seed) step \(step)")
                XCTAssertEqual(harness.allocator.freeFrames, UInt64(available.count - allocated.count), "seed \(seed) step \(step)")
                XCTAssertEqual(harness.allocator.freeFrames + harness.allocator.usedFrames + harness.allocator.reservedFrames,
                               harness.allocator.totalFrames)
            }
            // Free everything, then everything can be had again.
            for frame in allocated { try harness.allocator.free(Frame(number: frame)) }
            XCTAssertEqual(harness.allocator.freeFrames, UInt64(available.count))
            var again = Set<UInt64>()
            while let frame = harness.allocator.allocate() { again.insert(frame.number) }
            XCTAssertEqual(again, available)
        }
    }
}
