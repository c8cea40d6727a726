// A short list of frame ranges that owns its storage: one allocation of
// fixed capacity, no growth, no reference counting. The allocator keeps its
// usable and reserved ranges in two of these. (An Array cost about 0.35 ms
// of emulated ring 0 per append at boot; an InlineArray kept the allocator
// so large that every call copied 2 KiB.)

public struct FrameRangeList: ~Copyable {
    public static let capacity = 64
    private let items: UnsafeMutablePointer<FrameRange>
    /// `capacity`, or 0 for the list of an allocator over no frames.
    private let limit: Int
    public private(set) var count = 0

    /// A list of `capacity` ranges; `empty` holds none and takes no memory
    /// (the stand-in allocator the kernel starts with would otherwise cost
    /// two heap allocations and frees of emulated ring 0 at every boot).
    public init(empty: Bool = false) {
        limit = empty ? 0 : Self.capacity
        items = empty ? UnsafeMutablePointer(bitPattern: MemoryLayout<FrameRange>.alignment)! : .allocate(capacity: Self.capacity)
    }

    deinit {
        if limit > 0 { items.deallocate() }
    }

    /// False when the list is full; the range is then not recorded.
    public mutating func append(_ range: FrameRange) -> Bool {
        guard count < limit else { return false }
        (items + count).initialize(to: range)
        count += 1
        return true
    }

    public subscript(index: Int) -> FrameRange { items[index] }

    public func contains(_ frame: UInt64) -> Bool {
        var index = 0
        while index < count {
            if items[index].contains(frame) { return true }
            index += 1
        }
        return false
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
