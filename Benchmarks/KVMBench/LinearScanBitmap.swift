/// The baseline: a plain bitmap, one bit per frame, whose allocation scans
/// from the first word every time.
struct LinearScanBitmap {
    let frameCount: Int
    private var words: [UInt64]

    init(frameCount: Int) {
        self.frameCount = frameCount
        words = Array(repeating: 0, count: (frameCount + 63) / 64)
        let tail = frameCount % 64
        if tail != 0 { words[words.count - 1] = ~0 << UInt64(tail) }  // frames past the end stay used
    }

    var trackingBytes: Int { words.count * 8 }

    /// Marks frames `0 ..< count` used at once: filling by `allocate` costs
    /// n^2/64 word reads, which no benchmark setup should wait for.
    mutating func fill(_ count: Int) {
        for frame in 0..<count { words[frame / 64] |= 1 << UInt64(frame % 64) }
    }

    mutating func allocate() -> Int? {
        for index in words.indices where words[index] != ~0 {
            let bit = (~words[index]).trailingZeroBitCount
            words[index] |= 1 << UInt64(bit)
            return index * 64 + bit
        }
        return nil
    }

    mutating func free(_ frame: Int) {
        words[frame / 64] &= ~(1 << UInt64(frame % 64))
    }
}
