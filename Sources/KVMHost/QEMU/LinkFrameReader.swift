import GuestProtocol

/// Cuts the bytes the guest sends on its serial link (COM2) into frames.
/// Holds at most one frame's bytes beyond what it was given: the host reads
/// more only once every whole frame was taken, so a flood costs no memory.
struct LinkFrameReader {
    private var pending: [UInt8] = []
    private var start = 0

    mutating func append(_ bytes: [UInt8]) {
        if start == pending.count {
            pending = bytes
            start = 0
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    /// The next whole frame, or nil until more bytes arrive.
    mutating func next() throws(ChannelError) -> (frame: LinkFrame, value: UInt32)? {
        guard start < pending.count else { return nil }
        guard let frame = LinkFrame(rawValue: pending[start]) else { throw .badLinkFrame(tag: pending[start]) }
        guard pending.count - start >= 1 + frame.valueSize else { return nil }
        var value: UInt32 = 0
        for index in 0..<frame.valueSize {
            value |= UInt32(pending[start + 1 + index]) << UInt32(8 * index)
        }
        start += 1 + frame.valueSize
        if start == pending.count {
            pending.removeAll(keepingCapacity: true)
            start = 0
        }
        return (frame, value)
    }

    /// Bytes of a frame begun and not finished: what a guest that ended
    /// mid-frame left.
    var partialBytes: Int { pending.count - start }
}
