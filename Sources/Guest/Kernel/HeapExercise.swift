// Ordinary Swift in the kernel: an array, a class, a closure, all on the
// kernel heap. The host checks the checksum and that every byte came back.

private final class Accumulator {
    private(set) var total: UInt64 = 0
    func add(_ value: UInt64) { total &+= value }
}

enum HeapExercise {
    /// The array holds (count-1-i)^2 at index i, built by inserting at the
    /// front so that every insert moves the whole array up (memmove with
    /// overlapping ranges). The checksum weighs each element by index + 1.
    static func run(count: Int) -> (checksum: UInt64, peakBytesInUse: UInt) {
        var values: [UInt64] = []
        for index in 0..<count {
            values.insert(UInt64(index) * UInt64(index), at: 0)
        }
        let accumulator = Accumulator()
        values.enumerated().forEach { index, value in accumulator.add(value &* UInt64(index + 1)) }
        return (accumulator.total, KernelHeap.bytesInUse)
    }
}
