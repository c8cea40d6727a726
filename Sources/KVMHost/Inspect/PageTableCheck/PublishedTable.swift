import GuestProtocol

/// What the kernel published for the page-table check, as the host read it
/// from guest memory: every count within its capacity, every address whole
/// inside guest RAM, or a `PageTableCheckError` naming the word.
public struct PublishedTable: Equatable, Sendable {
    public struct Space: Equatable, Sendable, CustomStringConvertible {
        /// Its place in the table.
        public var index: Int
        public var root: UInt64
        public var kind: PageTableCheckTable.SpaceKind

        public init(index: Int, root: UInt64, kind: PageTableCheckTable.SpaceKind) {
            self.index = index
            self.root = root
            self.kind = kind
        }

        public var description: String { "space \(index) (\(kind.name), root \(hex(root)))" }
    }

    public var address: UInt64
    public var bitmapPhysical: UInt64
    public var bitmapFrames: UInt64
    /// Virtual: the kernel's map of all RAM, which maps every frame by design.
    public var directMap: Range<UInt64>
    public var spaces: [Space]
    /// Physical ranges the kernel owns, besides every page table.
    public var kernelRanges: [Range<UInt64>]
    /// Physical ranges several spaces may map writable.
    public var sharedRanges: [Range<UInt64>]

    public init(memory: GuestMemory, at address: UInt64) throws(PageTableCheckError) {
        guard address != 0 else { throw .notPublished }
        guard address % 8 == 0, memory.contains(address, length: UInt64(PageTableCheckTable.byteCount)) else {
            throw .tableOutsideRAM(address: address)
        }
        let words: [UInt64]
        do {
            words = try memory.withBytes(at: address, count: PageTableCheckTable.byteCount) { bytes in
                (0..<PageTableCheckTable.wordCount).map { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
            }
        } catch {
            throw .tableOutsideRAM(address: address)
        }
        func word(_ field: PageTableCheckTable.Field) -> UInt64 { words[field.rawValue] }
        func count(_ field: PageTableCheckTable.Field, limit: Int) throws(PageTableCheckError) -> Int {
            guard word(field) <= UInt64(limit) else { throw .countTooLarge(field: field, count: word(field), limit: UInt64(limit)) }
            return Int(word(field))
        }
        func range(_ what: String, at index: Int, physical: Bool) throws(PageTableCheckError) -> Range<UInt64> {
            let start = words[index], end = words[index + 1]
            guard start <= end else { throw .backwardsRange(what: what, start: start, end: end) }
            if physical, start < end, !memory.contains(start, length: end - start) {
                throw .outsideRAM(what: what, address: start, length: end - start)
            }
            return start..<end
        }
        guard word(.magic) == PageTableCheckTable.magic else { throw .badMagic(found: word(.magic)) }
        self.address = address
        // The bitmap covers frames from 0 to the end of the highest RAM at most.
        let framesLimit = (memory.ram.last?.upperBound ?? 0) >> 12
        bitmapFrames = word(.bitmapFrames)
        guard bitmapFrames <= framesLimit else { throw .countTooLarge(field: .bitmapFrames, count: bitmapFrames, limit: framesLimit) }
        bitmapPhysical = word(.bitmapPhysical)
        let bitmapBytes = (bitmapFrames + 63) / 64 * 8
        guard memory.contains(bitmapPhysical, length: bitmapBytes) else {
            throw .outsideRAM(what: "bitmapPhysical", address: bitmapPhysical, length: bitmapBytes)
        }
        directMap = try range("direct map", at: PageTableCheckTable.Field.directMapStart.rawValue, physical: false)
        let spaceCount = try count(.spaceCount, limit: PageTableCheckTable.maximumSpaces)
        let kernelRangeCount = try count(.kernelRangeCount, limit: PageTableCheckTable.maximumKernelRanges)
        let sharedRangeCount = try count(.sharedRangeCount, limit: PageTableCheckTable.maximumSharedRanges)
        spaces = []
        for index in 0..<spaceCount {
            let root = words[PageTableCheckTable.spaceWord(index)]
            let kindWord = words[PageTableCheckTable.spaceWord(index) + 1]
            guard let kind = PageTableCheckTable.SpaceKind(rawValue: kindWord) else { throw .badSpaceKind(space: index, value: kindWord) }
            guard root % UInt64(PageWalker.tableBytes) == 0 else { throw .notPageAligned(what: "space \(index) root", address: root) }
            guard memory.contains(root, length: UInt64(PageWalker.tableBytes)) else { throw .outsideRAM(what: "space \(index) root", address: root, length: UInt64(PageWalker.tableBytes)) }
            spaces.append(Space(index: index, root: root, kind: kind))
        }
        kernelRanges = []
        for index in 0..<kernelRangeCount {
            kernelRanges.append(try range("kernel range \(index)", at: PageTableCheckTable.kernelRangeWord(index), physical: true))
        }
        sharedRanges = []
        for index in 0..<sharedRangeCount {
            sharedRanges.append(try range("shared range \(index)", at: PageTableCheckTable.sharedRangeWord(index), physical: true))
        }
    }
}
