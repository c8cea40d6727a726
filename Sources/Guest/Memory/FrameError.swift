// What a caller did wrong when giving frames back.

public enum FrameError: Error, Equatable {
    /// The frame is free already.
    case doubleFree(frame: UInt64)
    /// The frame was never the allocator's to hand out: not usable RAM, or
    /// taken by the kernel at boot (image, boot structures, the bitmap).
    case reservedFrame(frame: UInt64)
    /// The frame lies past the end of physical memory.
    case outOfRange(frame: UInt64, frameCount: UInt64)
}
