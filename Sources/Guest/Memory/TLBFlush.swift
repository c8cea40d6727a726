// The TLB may still hold the old translation of a page whose entry changed.
// Every Pagemap operation that changes entries (map, mapRange, mapHuge,
// mapHugeRange, unmap, setFlags) hands back a TLBFlush for what it changed.
// It is noncopyable and must be consumed: `flush` runs the CPU's
// invalidation (invlpg in the kernel) for each page, `flushAll` drops every
// translation (a CR3 reload: what a changed parent entry needs), `ignore`
// says the address space is not loaded so no TLB holds it. Dropping it
// unconsumed traps, so a forgotten flush is found at once rather than as a
// stale translation much later.

@frozen
public struct TLBFlush: ~Copyable {
    public let page: UInt64
    /// For `unmap`: the frame the page mapped (nil for a lazy reservation).
    public let unmappedFrame: Frame?

    init(page: UInt64, unmappedFrame: Frame? = nil) {
        self.page = page
        self.unmappedFrame = unmappedFrame
    }

    /// Invalidates the page's translation.
    public consuming func flush(_ invalidate: (UInt64) -> Void) {
        invalidate(page)
        discard self
    }

    /// For a change above the leaves, which every address below it may have
    /// cached: `reload` drops all translations (writes CR3).
    public consuming func flushAll(_ reload: () -> Void) {
        reload()
        discard self
    }

    /// For an address space that is not the one in CR3.
    public consuming func ignore() {
        discard self
    }

    deinit {
        precondition(false, "a TLBFlush was dropped: call flush, flushAll or ignore")
    }
}

/// The flush of a range `mapRange` or `mapHugeRange` changed: `count` pages
/// from `first`, `stride` bytes apart. A type of its own so that the single
/// page's flush stays two words: unmap returns one on every call, and in the
/// guest each word moved costs emulated instructions (measured: 124 us an
/// unmap with two words, 152 us with four).
@frozen
public struct TLBRangeFlush: ~Copyable {
    public let first: UInt64
    public let count: UInt64
    public let stride: UInt64

    init(first: UInt64, count: UInt64, stride: UInt64) {
        self.first = first
        self.count = count
        self.stride = stride
    }

    /// Invalidates each page's translation.
    public consuming func flush(_ invalidate: (UInt64) -> Void) {
        var index: UInt64 = 0
        while index < count {
            invalidate(first &+ index &* stride)
            index += 1
        }
        discard self
    }

    /// For an address space that is not the one in CR3.
    public consuming func ignore() {
        discard self
    }

    deinit {
        precondition(false, "a TLBRangeFlush was dropped: call flush or ignore")
    }
}
