// A list of frame ranges that owns its storage: one allocation of the
// capacity its maker asks for (the kernel: one entry per memory-map entry,
// so no real map can overflow it), no growth, no reference counting. The
// allocator keeps its usable and reserved ranges in two of these. (An Array
// cost about 0.35 ms of emulated ring 0 per append at boot; an InlineArray
// kept the allocator so large that every call copied 2 KiB.)

public struct FrameRangeList: ~Copyable {
    /// What `init()` holds: the host's tests, and allocators that add ranges
    /// one by one.
    public static let defaultCapacity = 64
    private let items: UnsafeMutablePointer<FrameRange>
    /// The capacity; 0 for the list of an allocator over no frames.
    public let capacity: Int
    public private(set) var count = 0

    /// A list of `capacity` ranges; `empty` holds none and takes no memory
    /// (the stand-in allocator the kernel starts with would otherwise cost
    /// two heap allocations and frees of emulated ring 0 at every boot).
    public init(capacity: Int = FrameRangeList.defaultCapacity, empty: Bool = false) {
        self.capacity = empty ? 0 : max(capacity, 1)
        items = empty ? UnsafeMutablePointer(bitPattern: MemoryLayout<FrameRange>.alignment)! : .allocate(capacity: self.capacity)
    }

    deinit {
        if capacity > 0 { items.deallocate() }
    }

    /// False when the list is full; the range is then not recorded.
    public mutating func append(_ range: FrameRange) -> Bool {
        guard count < capacity else { return false }
        (items + count).initialize(to: range)
        count += 1
        return true
    }

    public subscript(index: Int) -> FrameRange { items[index] }

    /// Sorts the ranges by start and merges those that overlap or touch, so
    /// that the list is the same set of frames in fewest, ascending ranges.
    /// Insertion sort: a memory map is short and nearly always sorted.
    public mutating func normalize() {
        var index = 1
        while index < count {
            let item = items[index]
            var slot = index
            while slot > 0 && items[slot - 1].start > item.start {
                items[slot] = items[slot - 1]
                slot -= 1
            }
            items[slot] = item
            index += 1
        }
        var kept = 0
        index = 0
        while index < count {
            let item = items[index]
            if kept > 0 && item.start <= items[kept - 1].end {
                let last = items[kept - 1]
                items[kept - 1] = FrameRange(start: last.start, count: max(last.end, item.end) - last.start)
            } else {
                items[kept] = item
                kept += 1
            }
            index += 1
        }
        count = kept
    }

    public func contains(_ frame: UInt64) -> Bool {
        var index = 0
        while index < count {
            if items[index].contains(frame) { return true }
            index += 1
        }
        return false
    }

    /// The lowest frame of `range` that the list holds, or nil.
    public func firstFrame(in range: FrameRange) -> UInt64? {
        var first: UInt64?
        var index = 0
        while index < count {
            let item = items[index]
            if item.overlaps(range) { first = min(first ?? .max, max(item.start, range.start)) }
            index += 1
        }
        return first
    }

    /// The lowest frame of `range` that no range of the list holds, or nil.
    public func firstFrame(notIn range: FrameRange) -> UInt64? {
        var frame = range.start
        while frame < range.end {
            var index = 0
            while index < count && !items[index].contains(frame) { index += 1 }
            guard index < count else { return frame }
            frame = items[index].end
        }
        return nil
    }

    public func overlaps(_ range: FrameRange) -> Bool {
        var index = 0
        while index < count {
            if items[index].overlaps(range) { return true }
            index += 1
        }
        return false
    }
}
