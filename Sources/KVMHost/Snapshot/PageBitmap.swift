/// One bit a 4 KiB guest page, in 64-bit words, as KVM's dirty log hands it
/// over: the set of pages a restore copies back.
struct PageBitmap: Equatable {
    private(set) var words: [UInt64]
    let pages: Int

    init(pages: Int) {
        self.pages = pages
        words = [UInt64](repeating: 0, count: (pages + 63) / 64)
    }

    /// KVM's log as it came: bits past `pages` are ignored.
    init(pages: Int, words: [UInt64]) {
        precondition(words.count == (pages + 63) / 64, "a word a 64 pages")
        self.pages = pages
        self.words = words
        if pages % 64 != 0 { self.words[self.words.count - 1] &= (1 << UInt64(pages % 64)) - 1 }
    }

    mutating func insert(pages range: ClosedRange<UInt64>) {
        for page in range where page < UInt64(pages) {
            words[Int(page / 64)] |= 1 << (page % 64)
        }
    }

    /// Sets the pages a memory slot's dirty log marks: bit i of `log` is
    /// page `first + i`; bits past `count` are ignored.
    mutating func insert(log: [UInt64], count: Int, fromPage first: Int) {
        for (index, word) in log.enumerated() where word != 0 {
            var rest = word
            while rest != 0 {
                let bit = index * 64 + rest.trailingZeroBitCount
                if bit < count { insert(pages: UInt64(first + bit)...UInt64(first + bit)) }
                rest &= rest - 1
            }
        }
    }

    mutating func formUnion(_ other: PageBitmap) {
        precondition(other.pages == pages, "bitmaps of the same memory")
        for index in words.indices { words[index] |= other.words[index] }
    }

    func contains(_ page: Int) -> Bool {
        page >= 0 && page < pages && words[page / 64] & (1 << UInt64(page % 64)) != 0
    }

    /// The pages set, lowest first.
    func forEachPage(_ body: (Int) throws -> Void) rethrows {
        for (index, word) in words.enumerated() where word != 0 {
            var rest = word
            while rest != 0 {
                try body(index * 64 + rest.trailingZeroBitCount)
                rest &= rest - 1
            }
        }
    }

    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
}
