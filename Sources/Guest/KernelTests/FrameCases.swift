// The frame allocator, as the kernel runs it.

enum FrameCases {
    static func framesAreHandedOutOnce(_ expect: inout Expect) {
        let before = PhysicalMemory.frames.freeFrames
        var taken: [Frame] = []
        for _ in 0..<64 {
            guard let frame = PhysicalMemory.frames.allocate() else { break }
            expect.that(!taken.contains(frame), "a frame is handed out once", frame.address)
            taken.append(frame)
        }
        expect.equal(UInt64(taken.count), 64, "64 frames were free")
        expect.equal(PhysicalMemory.frames.freeFrames, before - 64, "the free count drops by 64")
        for frame in taken { PhysicalMemory.free(frame) }
        expect.equal(PhysicalMemory.frames.freeFrames, before, "every frame comes back")
    }
}
