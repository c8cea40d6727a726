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
    /// The first page whose translation changed.
    public let page: UInt64
    /// How many pages from `page` on, `stride` bytes apart (4 KiB or 2 MiB).
    public let count: UInt64
    public let stride: UInt64
    /// For `unmap`: the frame the page mapped (nil for a lazy reservation).
    public let unmappedFrame: Frame?

    init(page: UInt64, count: UInt64 = 1, stride: UInt64 = pageSize, unmappedFrame: Frame? = nil) {
        self.page = page
        self.count = count
        self.stride = stride
        self.unmappedFrame = unmappedFrame
    }

    /// Invalidates each changed page's translation.
    public consuming func flush(_ invalidate: (UInt64) -> Void) {
        var index: UInt64 = 0
        while index < count {
            invalidate(page &+ index &* stride)
            index += 1
        }
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
