import GuestMemory

/// A FrameAllocator with storage of its own, for native tests.
final class FrameAllocatorHarness {
    let storage: UnsafeMutablePointer<UInt64>
    var allocator: FrameAllocator

    init(frameCount: UInt64, usable: [FrameRange], reserved: [FrameRange] = []) {
        let words = FrameAllocator.storageWords(frameCount: frameCount)
        storage = .allocate(capacity: words)
        allocator = FrameAllocator(frameCount: frameCount, storage: storage)
        for range in usable { allocator.addUsable(range) }
        for range in reserved { allocator.reserve(range) }
    }

    deinit { storage.deallocate() }
}

/// A small, seeded generator: the same seed gives the same test every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
