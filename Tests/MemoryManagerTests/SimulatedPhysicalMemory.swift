import MemoryManager

/// Physical memory for native Pagemap tests: a zeroed buffer where physical
/// address p lives at base + p, with a frame allocator over it (frame 0 kept
/// back, as in the guest).
final class SimulatedPhysicalMemory {
    let size: Int
    let base: UnsafeMutableRawPointer
    let harness: FrameAllocatorHarness

    init(megabytes: Int) {
        size = megabytes << 20
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let frames = UInt64(size) >> 12
        harness = FrameAllocatorHarness(frameCount: frames, usable: [FrameRange(start: 1, count: frames - 1)])
    }

    deinit { base.deallocate() }

    var directMap: UInt { UInt(bitPattern: base) }

    func makePagemap() -> Pagemap {
        Pagemap.create(frames: &harness.allocator, directMap: directMap)!
    }
}

extension TLBFlush {
    /// Tests have no TLB: consume the flush, checking it names `page`.
    consuming func done() -> UInt64 {
        var flushed: UInt64 = 0
        flush { flushed = $0 }
        return flushed
    }
}
