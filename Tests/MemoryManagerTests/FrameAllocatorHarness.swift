import MemoryManager
import SeededRandom

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

