// The TLB may still hold the old translation of a page whose entry changed.
// `map` and `unmap` hand back a TLBFlush for the page. It is noncopyable and
// must be consumed: `flush` runs the CPU's invalidation (invlpg in the
// kernel), `ignore` says the address space is not loaded so no TLB holds it.
// Dropping it unconsumed traps, so a forgotten flush is found at once rather
// than as a stale translation much later.

@frozen
public struct TLBFlush: ~Copyable {
    public let page: UInt64
    /// For `unmap`: the frame the page mapped (nil for a lazy reservation).
    public let unmappedFrame: Frame?

    init(page: UInt64, unmappedFrame: Frame? = nil) {
        self.page = page
        self.unmappedFrame = unmappedFrame
    }

    public consuming func flush(_ invalidate: (UInt64) -> Void) {
        invalidate(page)
        discard self
    }

    /// For an address space that is not the one in CR3.
    public consuming func ignore() {
        discard self
    }

    deinit {
        precondition(false, "a TLBFlush was dropped: call flush or ignore")
    }
}
