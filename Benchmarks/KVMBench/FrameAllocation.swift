import MemoryManager
import SeededRandom

/// The guest's frame allocator (the same source the kernel runs), natively,
/// against a linear-scan bitmap, on 16 GiB (4M frames):
/// 1. the worst-case single allocation at 99% full, with the free 1% just
///    behind where the next search starts (for next fit: one lap of its
///    summary; for the linear scan: from frame 0 up to the free frames);
/// 2. allocate+free throughput kept half full;
/// 3. the memory each spends on tracking.
func frameAllocation(trials: Int) -> [Row] {
    let frameCount: UInt64 = 4 << 20
    let storage = UnsafeMutablePointer<UInt64>.allocate(capacity: FrameAllocator.storageWords(frameCount: frameCount))
    defer { storage.deallocate() }
    let clock = ContinuousClock()

    func freshAllocator() -> FrameAllocator {
        var allocator = FrameAllocator(frameCount: frameCount, storage: storage)
        allocator.addUsable(FrameRange(start: 0, count: frameCount))
        return allocator
    }

    func worstCaseOfFrameAllocator() -> Double {
        var allocator = freshAllocator()
        while allocator.allocate() != nil {}
        let freeCount = frameCount / 100
        // The last allocation came from the last word; free the frames below it.
        try! allocator.free(FrameRange(start: frameCount - 64 - freeCount, count: freeCount))
        return nanoseconds(clock.measure { _ = allocator.allocate() })
    }

    func worstCaseOfLinearScan() -> Double {
        var bitmap = LinearScanBitmap(frameCount: Int(frameCount))
        bitmap.fill(Int(frameCount))
        let freeCount = Int(frameCount) / 100
        for frame in (Int(frameCount) - freeCount)..<Int(frameCount) { bitmap.free(frame) }
        return nanoseconds(clock.measure { _ = bitmap.allocate() })
    }

    /// Pairs a second, each freeing a random frame held.
    func throughputOfFrameAllocator(_ operations: Int) -> Double {
        var allocator = freshAllocator()
        var random = SplitMix64(state: 42)
        var held: [UInt64] = []
        held.reserveCapacity(Int(frameCount))
        for _ in 0..<(frameCount / 2) { held.append(allocator.allocate()!.number) }
        let elapsed = clock.measure {
            for _ in 0..<operations {
                held.append(allocator.allocate()!.number)
                let index = Int.random(in: 0..<held.count, using: &random)
                held.swapAt(index, held.count - 1)
                try! allocator.free(Frame(number: held.removeLast()))
            }
        }
        return Double(operations) / (nanoseconds(elapsed) / 1e9)
    }

    func throughputOfLinearScan(_ operations: Int) -> Double {
        var bitmap = LinearScanBitmap(frameCount: Int(frameCount))
        var random = SplitMix64(state: 42)
        var held = Array(0..<Int(frameCount / 2))
        held.reserveCapacity(Int(frameCount))
        bitmap.fill(Int(frameCount / 2))
        let elapsed = clock.measure {
            for _ in 0..<operations {
                held.append(bitmap.allocate()!)
                let index = Int.random(in: 0..<held.count, using: &random)
                held.swapAt(index, held.count - 1)
                bitmap.free(held.removeLast())
            }
        }
        return Double(operations) / (nanoseconds(elapsed) / 1e9)
    }

    _ = worstCaseOfFrameAllocator()
    _ = worstCaseOfLinearScan()
    var ours: [Double] = [], linear: [Double] = []
    for _ in 0..<trials {
        ours.append(worstCaseOfFrameAllocator())
        linear.append(worstCaseOfLinearScan())
    }
    // The linear scan is far slower; fewer pairs give the same rate, sooner.
    let ourRate = throughputOfFrameAllocator(2_000_000)
    let linearRate = throughputOfLinearScan(20_000)

    let bitmapBytes = Double(frameCount) / 8
    let ourBytes = Double(FrameAllocator.storageBytes(frameCount: frameCount))
    let linearBytes = Double(LinearScanBitmap(frameCount: Int(frameCount)).trackingBytes)
    return [
        Row(measurement: "frame allocation, worst case at 99% full, 16 GiB (median of \(trials))",
            figure: formatTime(median(ours)), baseline: "linear-scan bitmap " + formatTime(median(linear)),
            ratio: times(median(linear) / median(ours)) + " faster", target: ">= 20x faster",
            met: median(linear) / median(ours) >= 20),
        Row(measurement: "frame allocate+free throughput, half full", figure: String(format: "%.1fM pairs/s", ourRate / 1e6),
            baseline: String(format: "linear-scan bitmap %.2fM pairs/s", linearRate / 1e6),
            ratio: times(ourRate / linearRate) + " faster"),
        Row(measurement: "frame tracking memory, 16 GiB", figure: String(format: "bitmap + %.4f", (ourBytes - bitmapBytes) / bitmapBytes),
            baseline: String(format: "bitmap alone %.0f KiB", linearBytes / 1024),
            ratio: String(format: "%.3fx the bitmap", ourBytes / linearBytes), target: "<= bitmap + 1/32",
            met: ourBytes - bitmapBytes <= bitmapBytes / 32),
    ]
}
