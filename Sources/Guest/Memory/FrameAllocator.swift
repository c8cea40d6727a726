// The bitmap physical frame allocator: one bit per 4 KiB frame over all
// physical memory, set where the frame is in use.
//
// Two summary levels sit beside the bitmap, one bit per 64-frame bitmap word
// each, so together they cost 1/32 of the bitmap:
//   - `hasFree`: the word has at least one free frame. Allocation scans this
//     summary, not the bitmap, and starts where the last allocation ended
//     (next fit): at 99% full it reads 64 times fewer words than a linear scan.
//   - `touched`: something may have written the word's frames before the
//     kernel ran (firmware), so they are not known to hold zeros.
// Known-zero tracking: guest memory starts zeroed, and zeroing a page costs
// about 280 us in the emulated ring 0 of our KVM. Allocation moves upward
// (next fit), so every frame ever handed out lies below `handedOutBelow`; a
// frame at or above it, in an untouched word, still holds zeros. (A touched
// bit per word set on allocation was tried first: it made 63 of every 64
// sequentially allocated frames look dirty.)
//
// Initialisation either starts with every frame used and `addUsable` frees
// the usable RAM the memory map lists, or (`init(frameCount:zeroedStorage:
// usable:)`, the kernel's boot) takes storage known to hold zeros, where
// every frame reads free, and marks used only what lies outside usable RAM:
// for 64 GiB of RAM that writes the 32 KiB of the 32-bit hole's bits, not
// the 2 MiB bitmap twice (0.55 us a word in emulated ring 0: 290 ms).
// Then `reserve` takes back what the kernel needs.
// The storage is memory the caller provides, so the same code runs in the
// guest (over the direct map) and natively on the host (for tests).

public struct FrameAllocator: ~Copyable {
    public let frameCount: UInt64
    private let wordCount: Int
    private let summaryCount: Int
    // Updates of these words are spelled `w[i] = w[i] | x`: the compound
    // `w[i] |= x` on a pointer makes Swift 6.3.1 emit invalid IR under
    // -sanitize=thread (scripts/sanitize), and the guest's code is the same.
    private let bitmap: UnsafeMutablePointer<UInt64>
    private let hasFree: UnsafeMutablePointer<UInt64>
    private let touched: UnsafeMutablePointer<UInt64>
    /// The word where the next search starts.
    private var hint = 0
    /// One past the highest frame ever handed out.
    public private(set) var handedOutBelow: UInt64 = 0
    public private(set) var freeFrames: UInt64 = 0
    /// Usable RAM frames, as added.
    public private(set) var usableFrames: UInt64 = 0
    /// Usable frames taken back by `reserve`.
    public private(set) var reservedUsableFrames: UInt64 = 0
    private var usableRanges: FrameRangeList
    private var reservedRanges: FrameRangeList
    /// Ranges that did not fit in the lists above (more than their
    /// capacity). A usable range that did not fit stays in use, which wastes
    /// it but never hands out a wrong frame.
    public private(set) var droppedRanges = 0

    /// The number of 64-bit words of storage for `frameCount` frames.
    public static func storageWords(frameCount: UInt64) -> Int {
        let words = Int((frameCount + 63) / 64)
        let summaries = (words + 63) / 64
        return words + 2 * summaries
    }

    public static func storageBytes(frameCount: UInt64) -> UInt64 {
        UInt64(storageWords(frameCount: frameCount)) * 8
    }

    /// An allocator over `frameCount` frames, all in use, keeping its bitmaps
    /// in `storage` (`storageWords(frameCount:)` words, which it overwrites);
    /// `addUsable` records up to `rangeCapacity` usable and as many reserved ranges.
    public init(frameCount: UInt64, storage: UnsafeMutablePointer<UInt64>, rangeCapacity: Int = FrameRangeList.defaultCapacity) {
        self.frameCount = frameCount
        usableRanges = FrameRangeList(capacity: rangeCapacity, empty: frameCount == 0)
        reservedRanges = FrameRangeList(capacity: rangeCapacity, empty: frameCount == 0)
        wordCount = Int((frameCount + 63) / 64)
        summaryCount = (wordCount + 63) / 64
        bitmap = storage
        hasFree = storage + wordCount
        touched = hasFree + summaryCount
        bitmap.update(repeating: ~0, count: wordCount)
        hasFree.update(repeating: 0, count: summaryCount)
        touched.update(repeating: 0, count: summaryCount)
    }

    /// An allocator over `frameCount` frames whose usable RAM is `usable`
    /// (in any order; overlaps count once), all of it free, keeping its
    /// bitmaps in `storage`, which must hold zeros (fresh guest memory): it
    /// writes only the bits of frames outside usable RAM and the summary.
    /// The same state as `init(frameCount:storage:)` and `addUsable` of
    /// each range, for a fraction of the writes. Up to `reservedCapacity`
    /// reserved ranges are recorded.
    public init(frameCount: UInt64, zeroedStorage storage: UnsafeMutablePointer<UInt64>, usable: consuming FrameRangeList,
                reservedCapacity: Int) {
        self.frameCount = frameCount
        wordCount = Int((frameCount + 63) / 64)
        summaryCount = (wordCount + 63) / 64
        bitmap = storage
        hasFree = storage + wordCount
        touched = hasFree + summaryCount
        reservedRanges = FrameRangeList(capacity: reservedCapacity, empty: frameCount == 0)
        usable.normalize()
        var clampedUsable = FrameRangeList(capacity: usable.count, empty: frameCount == 0)
        var index = 0
        while index < usable.count {
            let range = usable[index]
            let start = min(range.start, frameCount)
            let end = min(range.end, frameCount)
            if end > start { _ = clampedUsable.append(FrameRange(start: start, count: end - start)) }
            index += 1
        }
        usableRanges = clampedUsable
        guard frameCount > 0 else { return }
        // Every word has a free frame until the gaps say otherwise; summary
        // bits past the last word stay clear.
        hasFree.update(repeating: ~0, count: summaryCount)
        let tail = wordCount & 63
        if tail != 0 { hasFree[summaryCount - 1] = (1 << UInt64(tail)) - 1 }
        // Frames outside usable RAM, and the bits past the last frame, are used.
        var cursor: UInt64 = 0
        index = 0
        while index < usableRanges.count {
            let range = usableRanges[index]
            setRange(FrameRange(start: cursor, count: range.start - cursor), used: true)
            usableFrames += range.count
            cursor = range.end
            index += 1
        }
        setRange(FrameRange(start: cursor, count: UInt64(wordCount) << 6 - cursor), used: true)
        freeFrames = usableFrames
    }

    // MARK: - Counts

    /// The usable RAM ranges, as recorded (sorted and merged when the
    /// allocator was made from a list).
    public var usableRangeCount: Int { usableRanges.count }
    public func usableRange(_ index: Int) -> FrameRange { usableRanges[index] }

    /// Usable frames at or above `frame`.
    public func usableFrames(from frame: UInt64) -> UInt64 {
        var count: UInt64 = 0
        var index = 0
        while index < usableRanges.count {
            let range = usableRanges[index]
            if range.end > frame { count += range.end - max(range.start, frame) }
            index += 1
        }
        return count
    }

    public var totalFrames: UInt64 { frameCount }
    /// Frames that are not the allocator's to hand out: not usable RAM, or reserved.
    public var reservedFrames: UInt64 { frameCount - usableFrames + reservedUsableFrames }
    /// Frames handed out and not yet freed.
    public var usedFrames: UInt64 { usableFrames - reservedUsableFrames - freeFrames }

    // MARK: - Boot

    /// Frees the frames of a usable RAM range. Call before any `reserve`.
    public mutating func addUsable(_ range: FrameRange) {
        let range = clamped(range)
        guard !range.isEmpty else { return }
        guard !usableRanges.overlaps(range) else { return }
        guard usableRanges.append(range) else {
            droppedRanges += 1
            return
        }
        usableFrames += range.count
        // Every frame of a new usable range was used (nothing frees a frame
        // outside usable RAM), so all of them turn free.
        setRange(range, used: false)
        freeFrames += range.count
    }

    /// Takes frames away for good. Returns how many of them were free usable
    /// frames, so that callers can account for every frame. Reserve before
    /// the first allocation; a frame reserved twice counts once.
    @discardableResult
    public mutating func reserve(_ range: FrameRange) -> UInt64 {
        let range = clamped(range)
        guard !range.isEmpty else { return 0 }
        if !reservedRanges.append(range) {
            // Still reserved in the bitmap; a later free of one of its frames
            // reads as a double free rather than a reserved frame.
            droppedRanges += 1
        }
        let taken = countFree(in: range)
        setRange(range, used: true)
        freeFrames -= taken
        reservedUsableFrames += taken
        return taken
    }

    /// Marks frames as possibly dirty: memory something may have written
    /// before the kernel ran (firmware areas that the memory map calls RAM).
    public mutating func markTouched(_ range: FrameRange) {
        let range = clamped(range)
        guard !range.isEmpty else { return }
        var word = Int(range.start / 64)
        while word <= Int((range.end - 1) / 64) {
            touched[word >> 6] = touched[word >> 6] | 1 << UInt64(word & 63)
            word += 1
        }
    }

    /// Makes the next search start at `frame`: the kernel points it past the
    /// memory firmware may have written, so that early frames are known zero.
    public mutating func startSearch(at frame: Frame) {
        if frame.number < frameCount { hint = Int(frame.number >> 6) }
    }

    // MARK: - Allocation

    /// One free frame, or nil when none is left.
    public mutating func allocate() -> Frame? {
        allocateTrackingZero()?.frame
    }

    /// One free frame, and whether it may hold data: false when no frame of
    /// its word was handed out since boot, so the caller can skip zeroing it.
    /// (Ask here, not with `mustZero` afterwards: handing it out touches it.)
    public mutating func allocateTrackingZero() -> (frame: Frame, mustZero: Bool)? {
        guard freeFrames > 0 else { return nil }
        var summary = hint >> 6
        var mask: UInt64 = ~0 << UInt64(hint & 63)
        // At most one lap of the summary, plus the part of the first summary
        // word below the hint.
        for _ in 0...summaryCount {
            let candidates = hasFree[summary] & mask
            if candidates != 0 {
                let word = summary << 6 + candidates.trailingZeroBitCount
                let bit = (~bitmap[word]).trailingZeroBitCount
                let frame = Frame(number: UInt64(word) << 6 + UInt64(bit))
                let dirty = mustZero(frame)
                claim(word: word, bit: 1 << UInt64(bit))
                handedOutBelow = max(handedOutBelow, frame.number + 1)
                hint = word
                return (frame, dirty)
            }
            summary += 1
            if summary == summaryCount { summary = 0 }
            mask = ~0
        }
        return nil
    }

    /// `count` free frames in a row, the first a multiple of `alignment`
    /// frames (a power of two: 512 for a 2 MiB page), or nil. The search
    /// starts where the next single allocation would (next fit, so fresh,
    /// known-zero frames come first) and wraps around once.
    public mutating func allocateContiguous(count: UInt64, alignment: UInt64 = 1) -> Frame? {
        guard count > 0, count <= freeFrames, alignment > 0, alignment & (alignment - 1) == 0 else { return nil }
        let from = alignUp(UInt64(hint) << 6, alignment)
        if let found = findRun(count: count, alignment: alignment, from: from, to: frameCount)
            ?? findRun(count: count, alignment: alignment, from: 0, to: min(frameCount, from + count - 1)) {
            let range = FrameRange(start: found, count: count)
            setRange(range, used: true)
            freeFrames -= count
            handedOutBelow = max(handedOutBelow, range.end)
            return Frame(number: found)
        }
        return nil
    }

    /// The first aligned run of `count` free frames starting in `[from, to)`
    /// and ending by the end of memory.
    private func findRun(count: UInt64, alignment: UInt64, from: UInt64, to limit: UInt64) -> UInt64? {
        var start = from
        while start < limit && start + count <= frameCount {
            let summaryWord = Int(start >> 12)
            if hasFree[summaryWord] >> UInt64((start >> 6) & 63) == 0 {
                // No free frame in the rest of this summary word's 4096 frames.
                start = alignUp(UInt64(summaryWord + 1) << 12, alignment)
                continue
            }
            if let used = firstUsed(from: start, to: start + count) {
                // No run starts before the next free frame: skip the used
                // ones by word and summary word, not frame by frame (a full
                // 64 GiB bitmap is 16.7M frames of emulated ring 0).
                guard let free = firstFree(after: used) else { return nil }
                start = alignUp(free, alignment)
                continue
            }
            return start
        }
        return nil
    }

    /// `allocateContiguous`, and whether any of the frames may hold data.
    public mutating func allocateContiguousTrackingZero(count: UInt64, alignment: UInt64 = 1) -> (frame: Frame, mustZero: Bool)? {
        let watermark = handedOutBelow
        guard let first = allocateContiguous(count: count, alignment: alignment) else { return nil }
        var dirty = first.number < watermark
        var word = Int(first.number >> 6)
        while !dirty && word <= Int((first.number + count - 1) >> 6) {
            dirty = touched[word >> 6] & (1 << UInt64(word & 63)) != 0
            word += 1
        }
        return (first, dirty)
    }

    // MARK: - Freeing

    /// Gives back a frame the caller took from this allocator: the memory
    /// manager's own frees (a table, a space's page), which cannot be refused
    /// unless the memory manager itself is wrong, so a refusal stops it.
    @inline(__always)
    public mutating func giveBack(_ frame: Frame) {
        do throws(FrameError) {
            try free(frame)
        } catch {
            preconditionFailure("the memory manager gave back a frame it did not hold")
        }
    }

    public mutating func free(_ frame: Frame) throws(FrameError) {
        try checkFreeable(frame.number)
        let word = Int(frame.number >> 6)
        bitmap[word] = bitmap[word] & ~(1 << (frame.number & 63))
        hasFree[word >> 6] = hasFree[word >> 6] | 1 << UInt64(word & 63)
        freeFrames += 1
    }

    /// Frees every frame of `range`, or none when any of them cannot be freed.
    public mutating func free(_ range: FrameRange) throws(FrameError) {
        // The first frame that cannot be freed, and why, as a frame-by-frame
        // check in frame order would find it, but found a word at a time:
        // ring 0 pays per instruction, and a 64 GiB machine has 16.7M frames.
        guard !range.isEmpty else { return }
        let inside = clamped(range)
        let reserved = minimum(usableRanges.firstFrame(notIn: inside), reservedRanges.firstFrame(in: inside))
        let notUsed = firstFree(from: inside.start, to: inside.end)
        if let reserved, reserved <= notUsed ?? .max { throw .reservedFrame(frame: reserved) }
        if let notUsed { throw .doubleFree(frame: notUsed) }
        if range.end > frameCount { throw .outOfRange(frame: max(range.start, frameCount), frameCount: frameCount) }
        setRange(range, used: false)
        freeFrames += range.count  // checked above: every frame was in use
    }

    // MARK: - Questions

    /// The bitmap's words (a set bit: a frame in use) and their count, for
    /// a baseline that scans them: measurement only.
    public func withBitmapWords<Result>(_ body: (UnsafePointer<UInt64>, Int) -> Result) -> Result {
        body(UnsafePointer(bitmap), wordCount)
    }

    public func isFree(_ frame: Frame) -> Bool {
        frame.number < frameCount && !isUsed(frame.number)
    }

    /// True unless the frame is known to hold zeros: it may have been handed
    /// out (and written) since boot, or written by firmware.
    public func mustZero(_ frame: Frame) -> Bool {
        let word = Int(frame.number >> 6)
        return frame.number < handedOutBelow || touched[word >> 6] & (1 << UInt64(word & 63)) != 0
    }

    /// True for frames that are not the allocator's: not usable RAM, or reserved.
    public func isReserved(_ frame: Frame) -> Bool {
        frame.number >= frameCount || !isUsable(frame.number) || isInReservedRange(frame.number)
    }

    // MARK: - Bits

    private func isUsed(_ frame: UInt64) -> Bool {
        bitmap[Int(frame >> 6)] & (1 << (frame & 63)) != 0
    }

    private func isUsable(_ frame: UInt64) -> Bool {
        usableRanges.contains(frame)
    }

    private func isInReservedRange(_ frame: UInt64) -> Bool {
        reservedRanges.contains(frame)
    }

    private func checkFreeable(_ frame: UInt64) throws(FrameError) {
        guard frame < frameCount else { throw .outOfRange(frame: frame, frameCount: frameCount) }
        guard !isReserved(Frame(number: frame)) else { throw .reservedFrame(frame: frame) }
        guard isUsed(frame) else { throw .doubleFree(frame: frame) }
    }

    private mutating func claim(word: Int, bit: UInt64) {
        bitmap[word] = bitmap[word] | bit
        if bitmap[word] == ~0 { hasFree[word >> 6] = hasFree[word >> 6] & ~(1 << UInt64(word & 63)) }
        freeFrames -= 1
    }

    /// Sets (`used`) or clears the bits of `range` and keeps `hasFree` right.
    /// Whole words in the middle are filled in bulk (a `rep stos` in the
    /// guest), since ring-0 code pays per instruction on our KVM: a word loop
    /// made boot take 17 ms longer for 64 MiB.
    private mutating func setRange(_ range: FrameRange, used: Bool) {
        guard !range.isEmpty else { return }
        let firstWord = Int(range.start >> 6)
        let lastWord = Int((range.end - 1) >> 6)
        setBits(word: firstWord, Self.bits(from: range.start, to: range.end, in: firstWord), used: used)
        if lastWord > firstWord {
            setBits(word: lastWord, Self.bits(from: UInt64(lastWord) << 6, to: range.end, in: lastWord), used: used)
        }
        if lastWord > firstWord + 1 {
            (bitmap + firstWord + 1).update(repeating: used ? ~0 : 0, count: lastWord - firstWord - 1)
            setSummaryBits(from: firstWord + 1, to: lastWord, set: !used)
        }
    }

    private mutating func setBits(word: Int, _ bits: UInt64, used: Bool) {
        let summaryBit: UInt64 = 1 << UInt64(word & 63)
        if used {
            bitmap[word] = bitmap[word] | bits
            if bitmap[word] == ~0 { hasFree[word >> 6] = hasFree[word >> 6] & ~summaryBit }
        } else {
            bitmap[word] = bitmap[word] & ~bits
            hasFree[word >> 6] = hasFree[word >> 6] | summaryBit
        }
    }

    /// Sets or clears the `hasFree` bits of words `[first, end)`.
    private mutating func setSummaryBits(from first: Int, to end: Int, set: Bool) {
        var word = first
        while word < end {
            let summary = word >> 6
            let bits = Self.bits(from: UInt64(word), to: UInt64(end), in: summary)
            if set { hasFree[summary] = hasFree[summary] | bits } else { hasFree[summary] = hasFree[summary] & ~bits }
            word = (summary + 1) << 6
        }
    }

    private func countFree(in range: FrameRange) -> UInt64 {
        guard !range.isEmpty else { return 0 }
        let firstWord = Int(range.start >> 6)
        let lastWord = Int((range.end - 1) >> 6)
        var count = Self.countFree(~bitmap[firstWord] & Self.bits(from: range.start, to: range.end, in: firstWord))
        guard lastWord > firstWord else { return count }
        count += Self.countFree(~bitmap[lastWord] & Self.bits(from: UInt64(lastWord) << 6, to: range.end, in: lastWord))
        // The whole words between, in a tight loop: at boot they are all
        // free or all used, and each instruction is emulated.
        var word = bitmap + firstWord + 1
        let end = bitmap + lastWord
        while word < end {
            count &+= Self.countFree(~word.pointee)
            word += 1
        }
        return count
    }

    /// The set bits of `free`. Words all free or all used, nearly every word
    /// at boot, need no bit count: the guest has no POPCNT, so that is a loop.
    @inline(__always)
    private static func countFree(_ free: UInt64) -> UInt64 {
        free == 0 ? 0 : free == ~0 ? 64 : UInt64(free.nonzeroBitCount)
    }

    /// The bits of bitmap word `word` that frames `[frame, end)` cover.
    private static func bits(from frame: UInt64, to end: UInt64, in word: Int) -> UInt64 {
        let first = frame - UInt64(word) << 6
        let last = min(end - UInt64(word) << 6, 64)
        return last - first == 64 ? ~0 : ((1 << (last - first)) - 1) << first
    }

    /// The first used frame in `[start, end)`, or nil.
    private func firstUsed(from start: UInt64, to end: UInt64) -> UInt64? {
        firstFrame(from: start, to: end, flip: 0)
    }

    /// The first free frame in `[start, end)`, or nil.
    private func firstFree(from start: UInt64, to end: UInt64) -> UInt64? {
        firstFrame(from: start, to: end, flip: ~0)
    }

    /// The first frame in `[start, end)` whose bit, xor `flip`, is set:
    /// word by word.
    private func firstFrame(from start: UInt64, to end: UInt64, flip: UInt64) -> UInt64? {
        var frame = start
        while frame < end {
            let word = Int(frame >> 6)
            let found = (bitmap[word] ^ flip) & Self.bits(from: frame, to: end, in: word)
            if found != 0 { return UInt64(word) << 6 + UInt64(found.trailingZeroBitCount) }
            frame = UInt64(word + 1) << 6
        }
        return nil
    }

    /// The first free frame above `frame`, or nil; whole words without a free
    /// frame are skipped 64 at a time by their `hasFree` summary.
    private func firstFree(after frame: UInt64) -> UInt64? {
        var word = Int(frame >> 6)
        var free = ~bitmap[word] & (frame & 63 == 63 ? 0 : ~0 << ((frame & 63) + 1))
        while free == 0 {
            word += 1
            guard word < wordCount else { return nil }
            let pending = hasFree[word >> 6] & (~0 << UInt64(word & 63))
            if pending == 0 {
                word = (word | 63)  // the rest of this summary word: none free
                continue
            }
            word = (word & ~63) + pending.trailingZeroBitCount
            free = ~bitmap[word]
        }
        let found = UInt64(word) << 6 + UInt64(free.trailingZeroBitCount)
        return found < frameCount ? found : nil
    }

    private func clamped(_ range: FrameRange) -> FrameRange {
        let start = min(range.start, frameCount)
        return FrameRange(start: start, count: min(range.end, frameCount) - start)
    }
}

/// The smaller of two optional frames; nil when both are.
private func minimum(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}

private func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
    (value + alignment - 1) & ~(alignment - 1)
}
