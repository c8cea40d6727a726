// Which frames the kernel owns, and which mappings the calls made: what
// keeps a call (or the monitor, which makes the same calls) from breaking
// the kernel by accident.
//
// A frame is the kernel's when it lies in a boot reservation (page zero,
// the kernel image with its heap and stacks, the bootstrap tables, the
// start info, the memory map, the frame bitmap) or holds a live page table.
// No call maps such a frame writable or user-accessible; read-only
// supervisor mappings of it are allowed, for reading.
//
// Every mapping MapPage makes is counted against its frame until UnmapPage
// takes it away, and FreeFrame refuses a frame with a count: freed, it
// would be handed out again while the page still reaches it. (A count per
// mapped frame, not per frame of RAM: only what calls mapped is kept.)
// Frames memory spaces and processes map are theirs and go back with them,
// but a memory space is not released while a call maps one of its frames.

enum CallMappings {
    struct Mappings {
        var count: UInt64
        /// The newest mapping's page, for the refusal's message.
        var newest: UInt64
    }

    /// By frame number: an open-addressing table (linear probing, deletion
    /// by backward shift), since Swift's Dictionary needs floating point
    /// the kernel does not have. Slot keys are frame number + 1; 0 is empty.
    nonisolated(unsafe) private static var keys = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
    nonisolated(unsafe) private static var values = UnsafeMutablePointer<Mappings>.allocate(capacity: 0)
    nonisolated(unsafe) private static var capacity = 0
    nonisolated(unsafe) private static var used = 0

    private static func slot(_ key: UInt64) -> Int {
        // Fibonacci hashing: frames mapped in a row spread over the table.
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & (capacity - 1)
    }

    private static func find(_ frame: Frame) -> Int? {
        guard capacity > 0 else { return nil }
        let key = frame.number + 1
        var index = slot(key)
        while keys[index] != 0 {
            if keys[index] == key { return index }
            index = (index + 1) & (capacity - 1)
        }
        return nil
    }

    private static func insert(_ key: UInt64, _ value: Mappings) {
        var index = slot(key)
        while keys[index] != 0 { index = (index + 1) & (capacity - 1) }
        keys[index] = key
        (values + index).initialize(to: value)
        used += 1
    }

    /// Doubles the table (from 64 slots) once it is half full.
    private static func grow() {
        let oldKeys = keys, oldValues = values, oldCapacity = capacity
        capacity = max(64, capacity * 2)
        keys = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        values = UnsafeMutablePointer<Mappings>.allocate(capacity: capacity)
        used = 0
        for index in 0..<oldCapacity where oldKeys[index] != 0 { insert(oldKeys[index], oldValues[index]) }
        oldKeys.deallocate()
        oldValues.deallocate()
    }

    static func added(_ frame: Frame, at virtual: UInt64) {
        if let index = find(frame) {
            values[index].count += 1
            values[index].newest = virtual
            return
        }
        if 2 * (used + 1) > capacity { grow() }
        insert(frame.number + 1, Mappings(count: 1, newest: virtual))
    }

    static func removed(_ frame: Frame) {
        guard var index = find(frame) else { return }
        values[index].count -= 1
        guard values[index].count == 0 else { return }
        // Backward shift: later entries of the run move up, so that no
        // lookup stops early at the hole.
        keys[index] = 0
        used -= 1
        var next = (index + 1) & (capacity - 1)
        while keys[next] != 0 {
            let home = slot(keys[next])
            // Moves when its home is not cyclically within (index, next].
            if (next > index && (home <= index || home > next)) || (next < index && home <= index && home > next) {
                keys[index] = keys[next]
                values[index] = values[next]
                keys[next] = 0
                index = next
            }
            next = (next + 1) & (capacity - 1)
        }
    }

    /// Refuses a free of `frame` while a call's mapping reaches it, beyond
    /// the `own` mappings the freeing call takes away itself.
    static func checkUnmapped(_ frame: Frame, besides own: UInt64 = 0) throws(CallError) {
        if let index = find(frame), values[index].count > own {
            throw .frameStillMapped(address: frame.address, virtual: values[index].newest, mappings: values[index].count - own)
        }
    }

    /// Refuses to give back the frames of `pages` pages from `start` while
    /// a call's mapping reaches one of them (a memory space's release: the
    /// frame would be handed out again, to a page table even, under a page
    /// the host mapped writable). Walks only present tables, as the release
    /// does; with no call mappings at all it costs nothing.
    static func checkUnmapped(pagesFrom start: UInt64, count pages: UInt64) throws(CallError) {
        guard used > 0 else { return }
        let end = start + pages * pageSize
        var address = start
        while address < end {
            guard let virtual = VirtualAddress(address) else { return }
            switch KernelAddressSpace.pagemap.locatePage(virtual) {
            case .notPresent(let level, _) where level > 1:
                let span: UInt64 = 1 << (12 + 9 * UInt64(level - 1))
                address = (address & ~(span - 1)) + span
            default:
                if let mapped = KernelAddressSpace.pagemap.translate(virtual) {
                    try checkUnmapped(Frame(containing: mapped.physical))
                }
                address += pageSize
            }
        }
    }

    /// Whether `frame` is the kernel's (see above).
    static func isKernelFrame(_ frame: Frame) -> Bool {
        for index in 0..<PhysicalMemory.reservationCount where PhysicalMemory.reservations[index].range.contains(frame.number) {
            return true
        }
        return !PhysicalMemory.frames.isFree(frame) && KernelAddressSpace.pagemap.holdsTable(frame)
    }
}
