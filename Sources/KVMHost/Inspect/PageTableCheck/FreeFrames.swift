/// Which frames the guest's frame bitmap shows free (a clear bit), asked
/// leaf by leaf. Where the leaves cover fewer bitmap words than the bitmap
/// holds, only their words are read. Otherwise (a guest whose tables map the
/// same gigabytes again and again) the bitmap is read once, with each word's
/// next word that has a free frame, so that each leaf costs at most three
/// words whatever it maps: the host's work stays bounded by the bitmap's size.
struct FreeFrames {
    private let memory: GuestMemory
    private let bitmapPhysical: UInt64
    /// Frames past this are not the allocator's.
    private let frames: UInt64
    /// The bitmap, and for each word the index of the first word at or after
    /// it with a free frame (the word count where none): when read whole.
    private var whole: (words: [UInt64], nextFree: [UInt32])?
    private let readWhole: Bool

    init(memory: GuestMemory, table: PublishedTable, leaves: [PageTableCheck.Leaf]) {
        self.memory = memory
        bitmapPhysical = table.bitmapPhysical
        frames = table.bitmapFrames
        let words = (frames + 63) / 64
        var covered: UInt64 = 0
        for leaf in leaves where !leaf.inDirectMap && !leaf.again {
            covered &+= (leaf.size >> 12 + 63) / 64 + 1
            if covered > words { break }
        }
        readWhole = covered > words
    }

    /// The lowest frame of `[physical, physical + size)` the bitmap shows free.
    mutating func first(from physical: UInt64, size: UInt64) throws(PageTableCheckError) -> UInt64? {
        let start = physical >> 12
        let end = min((physical &+ size) >> 12, frames)
        guard start < end else { return nil }
        if readWhole {
            let (words, nextFree) = try wholeBitmap()
            var index = Int(start >> 6)
            let last = Int((end - 1) >> 6)
            while index <= last {
                index = Int(nextFree[index])
                guard index <= last else { return nil }
                if let frame = firstClear(words[index], word: UInt64(index), from: start, to: end) { return frame << 12 }
                index += 1
            }
            return nil
        }
        var index = start >> 6
        while index <= (end - 1) >> 6 {
            if let frame = firstClear(try word(index), word: index, from: start, to: end) { return frame << 12 }
            index += 1
        }
        return nil
    }

    /// The first clear bit of bitmap word `word` whose frame lies in `[start, end)`.
    private func firstClear(_ bits: UInt64, word: UInt64, from start: UInt64, to end: UInt64) -> UInt64? {
        let base = word << 6
        let low = start > base ? start - base : 0
        let high = min(end - base, 64)
        var free = ~bits & (low == 0 ? ~0 : ~((1 << low) - 1))
        if high < 64 { free &= (1 << high) - 1 }
        return free == 0 ? nil : base + UInt64(free.trailingZeroBitCount)
    }

    private func word(_ index: UInt64) throws(PageTableCheckError) -> UInt64 {
        do {
            return try memory.load(UInt64.self, at: bitmapPhysical + index * 8)
        } catch {
            throw .outsideRAM(what: "bitmapPhysical", address: bitmapPhysical, length: (frames + 63) / 64 * 8)
        }
    }

    private mutating func wholeBitmap() throws(PageTableCheckError) -> (words: [UInt64], nextFree: [UInt32]) {
        if let whole { return whole }
        let count = Int((frames + 63) / 64)
        var words = [UInt64](repeating: 0, count: count)
        do {
            try memory.withBytes(at: bitmapPhysical, count: count * 8) { bytes in
                for index in 0..<count { words[index] = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
            }
        } catch {
            throw .outsideRAM(what: "bitmapPhysical", address: bitmapPhysical, length: UInt64(count) * 8)
        }
        var nextFree = [UInt32](repeating: UInt32(count), count: count + 1)
        var index = count - 1
        while index >= 0 {
            nextFree[index] = words[index] == ~0 ? nextFree[index + 1] : UInt32(index)
            index -= 1
        }
        whole = (words, nextFree)
        return (words, nextFree)
    }
}
