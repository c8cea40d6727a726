// The guest's frame allocator (the same source the kernel runs), natively,
// side by side with a linear-scan bitmap in one run:
//
//     swift run -c release frame-benchmark
//
// 1. allocate+free throughput on a 16 GiB (4M-frame) bitmap kept half full;
// 2. the worst-case single allocation at 99% full: the free 1% lies just
//    behind where the next search starts, so the allocator under test must
//    scan almost all of memory (for next fit: one lap of its summary; for the
//    linear scan: from frame 0 up to the free frames).

import Foundation
import GuestMemory
import SeededRandom

let frameCount: UInt64 = 4 << 20
let operations = 2_000_000
/// The linear scan is far slower; fewer pairs give the same rate, sooner.
let linearOperations = 20_000
let trials = 25

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

nonisolated(unsafe) let storage = UnsafeMutablePointer<UInt64>.allocate(capacity: FrameAllocator.storageWords(frameCount: frameCount))


func freshAllocator() -> FrameAllocator {
    var allocator = FrameAllocator(frameCount: frameCount, storage: storage)
    allocator.addUsable(FrameRange(start: 0, count: frameCount))
    return allocator
}

let clock = ContinuousClock()

// MARK: 1. Throughput at half full

func throughputOfFrameAllocator() -> Double {
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

func throughputOfLinearScan() -> Double {
    var bitmap = LinearScanBitmap(frameCount: Int(frameCount))
    var random = SplitMix64(state: 42)
    var held: [Int] = []
    held.reserveCapacity(Int(frameCount))
    bitmap.fill(Int(frameCount / 2))
    held.append(contentsOf: 0..<Int(frameCount / 2))
    let elapsed = clock.measure {
        for _ in 0..<linearOperations {
            held.append(bitmap.allocate()!)
            let index = Int.random(in: 0..<held.count, using: &random)
            held.swapAt(index, held.count - 1)
            bitmap.free(held.removeLast())
        }
    }
    return Double(linearOperations) / (nanoseconds(elapsed) / 1e9)
}

// MARK: 2. Worst-case single allocation at 99% full

/// Fills memory, then frees the 1% of frames just below where the next
/// search starts (for next fit: the last word allocated from; for the linear
/// scan the search always starts at frame 0, so the free frames go at the top).
func worstCaseOfFrameAllocator() -> Double {
    var allocator = freshAllocator()
    while allocator.allocate() != nil {}
    let freeCount = frameCount / 100
    // The last allocation came from the last word; free the frames below it.
    let firstFree = frameCount - 64 - freeCount
    try! allocator.free(FrameRange(start: firstFree, count: freeCount))
    let elapsed = clock.measure { _ = allocator.allocate() }
    return nanoseconds(elapsed)
}

func worstCaseOfLinearScan() -> Double {
    var bitmap = LinearScanBitmap(frameCount: Int(frameCount))
    bitmap.fill(Int(frameCount))
    let freeCount = Int(frameCount) / 100
    for frame in (Int(frameCount) - freeCount)..<Int(frameCount) { bitmap.free(frame) }
    let elapsed = clock.measure { _ = bitmap.allocate() }
    return nanoseconds(elapsed)
}

// Interleaved, after a warm-up of each.
_ = worstCaseOfFrameAllocator()
_ = worstCaseOfLinearScan()
var oursWorst: [Double] = []
var linearWorst: [Double] = []
for _ in 0..<trials {
    oursWorst.append(worstCaseOfFrameAllocator())
    linearWorst.append(worstCaseOfLinearScan())
}
let oursRate = throughputOfFrameAllocator()
let linearRate = throughputOfLinearScan()

let bitmapBytes = Double(frameCount) / 8
let oursBytes = Double(FrameAllocator.storageBytes(frameCount: frameCount))
let linearBytes = Double(LinearScanBitmap(frameCount: Int(frameCount)).trackingBytes)

print("frame allocator, \(frameCount) frames (16 GiB), native, release build")
print("allocate+free throughput at half full (\(operations) pairs; linear scan \(linearOperations) pairs):")
print(String(format: "  FrameAllocator (summary + next fit)  %12.0f pairs/s", oursRate))
print(String(format: "  linear-scan bitmap                   %12.0f pairs/s", linearRate))
print(String(format: "  ratio                                %12.1fx", oursRate / linearRate))
print("worst-case single allocation at 99% full, \(trials) trials (median / max):")
print(String(format: "  FrameAllocator      %10.1f us / %10.1f us", median(oursWorst) / 1000, oursWorst.max()! / 1000))
print(String(format: "  linear-scan bitmap  %10.1f us / %10.1f us", median(linearWorst) / 1000, linearWorst.max()! / 1000))
print(String(format: "  ratio (medians)     %10.1fx (target: at least 20x)", median(linearWorst) / median(oursWorst)))
print("tracking memory:")
print(String(format: "  FrameAllocator      %10.0f bytes = bitmap + %.4f of it (target: at most 1/32 = 0.0313)",
             oursBytes, (oursBytes - bitmapBytes) / bitmapBytes))
print(String(format: "  linear-scan bitmap  %10.0f bytes", linearBytes))
