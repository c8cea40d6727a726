// The table the kernel publishes for the host's page-table check: where
// the frame bitmap lies, the direct map, every live address space's root,
// the frames the kernel owns and those it shares. The kernel hands its
// guest-physical address over once (ReadyRecord.pageTableCheckTable) and
// keeps it current; the host reads it from guest memory whenever it checks.
//
// Fixed words, little endian, so that neither side allocates for it:
//   0  magic                  `PageTableCheckTable.magic`
//   1  bitmap physical        the frame allocator's bitmap (a set bit: used)
//   2  bitmap frames          frames the bitmap covers, from frame 0
//   3  direct map start       virtual: the kernel's map of all RAM
//   4  direct map end         virtual, exclusive
//   5  space count            at most `maximumSpaces`
//   6  kernel range count     at most `maximumKernelRanges`
//   7  shared range count     at most `maximumSharedRanges`
//   then `maximumSpaces` spaces (root physical, `SpaceKind`), the kernel
//   ranges and the shared ranges (start and end physical, end exclusive).
// For the host every word is the guest's: it checks counts against these
// capacities and every address against guest RAM before it reads on.

public enum PageTableCheckTable {
    public static let magic: UInt64 = 0x3142_4154_4B43_4850  // "PHCKTAB1"
    public static let maximumSpaces = 16
    public static let maximumKernelRanges = 16
    public static let maximumSharedRanges = 16

    /// A header word.
    public enum Field: Int, Sendable, CaseIterable {
        case magic = 0, bitmapPhysical, bitmapFrames, directMapStart, directMapEnd, spaceCount, kernelRangeCount, sharedRangeCount

        public var name: StaticString {
            switch self {
            case .magic: "magic"
            case .bitmapPhysical: "bitmapPhysical"
            case .bitmapFrames: "bitmapFrames"
            case .directMapStart: "directMapStart"
            case .directMapEnd: "directMapEnd"
            case .spaceCount: "spaceCount"
            case .kernelRangeCount: "kernelRangeCount"
            case .sharedRangeCount: "sharedRangeCount"
            }
        }
    }

    /// What an address space is for, as the kernel names it.
    public enum SpaceKind: UInt64, Sendable, CaseIterable {
        /// The kernel's own (KernelAddressSpace), the test memory space inside it.
        case kernel = 1
        /// A running process's.
        case process = 2
        /// The access checks' scratch space.
        case accessChecks = 3
        /// A space an in-kernel test case built and left live.
        case testCase = 4

        public var name: StaticString {
            switch self {
            case .kernel: "kernel"
            case .process: "process"
            case .accessChecks: "access checks"
            case .testCase: "test case"
            }
        }
    }

    static let headerWords = 8
    public static let spacesWord = headerWords
    public static let kernelRangesWord = spacesWord + 2 * maximumSpaces
    public static let sharedRangesWord = kernelRangesWord + 2 * maximumKernelRanges
    public static let wordCount = sharedRangesWord + 2 * maximumSharedRanges
    public static let byteCount = wordCount * 8

    /// The words of space `index`: its root, then its kind.
    public static func spaceWord(_ index: Int) -> Int { spacesWord + 2 * index }
    public static func kernelRangeWord(_ index: Int) -> Int { kernelRangesWord + 2 * index }
    public static func sharedRangeWord(_ index: Int) -> Int { sharedRangesWord + 2 * index }
}

/// The table where it lies: the kernel's writer, and a host test's.
public struct PageTableCheckTableWords {
    public let words: UnsafeMutablePointer<UInt64>

    /// Over a table already written.
    public init(words: UnsafeMutablePointer<UInt64>) {
        self.words = words
    }

    /// Over `PageTableCheckTable.wordCount` words, which it clears.
    public init(clearing words: UnsafeMutablePointer<UInt64>) {
        self.words = words
        words.update(repeating: 0, count: PageTableCheckTable.wordCount)
        self[.magic] = PageTableCheckTable.magic
    }

    public subscript(field: PageTableCheckTable.Field) -> UInt64 {
        get { words[field.rawValue] }
        nonmutating set { words[field.rawValue] = newValue }
    }

    /// Adds a live space; false when the table is full.
    public func addSpace(root: UInt64, kind: PageTableCheckTable.SpaceKind) -> Bool {
        let count = Int(self[.spaceCount])
        guard count < PageTableCheckTable.maximumSpaces else { return false }
        words[PageTableCheckTable.spaceWord(count)] = root
        words[PageTableCheckTable.spaceWord(count) + 1] = kind.rawValue
        self[.spaceCount] = UInt64(count + 1)
        return true
    }

    /// Takes the space whose root is `root` out, keeping the others in
    /// order (the host names spaces by index); false when it is not there.
    public func removeSpace(root: UInt64) -> Bool {
        let count = Int(self[.spaceCount])
        var index = 0
        while index < count && words[PageTableCheckTable.spaceWord(index)] != root { index += 1 }
        guard index < count else { return false }
        while index + 1 < count {
            words[PageTableCheckTable.spaceWord(index)] = words[PageTableCheckTable.spaceWord(index + 1)]
            words[PageTableCheckTable.spaceWord(index) + 1] = words[PageTableCheckTable.spaceWord(index + 1) + 1]
            index += 1
        }
        words[PageTableCheckTable.spaceWord(count - 1)] = 0
        words[PageTableCheckTable.spaceWord(count - 1) + 1] = 0
        self[.spaceCount] = UInt64(count - 1)
        return true
    }

    /// Adds a physical range `[start, end)` the kernel owns; false when full.
    public func addKernelRange(start: UInt64, end: UInt64) -> Bool {
        let count = Int(self[.kernelRangeCount])
        guard count < PageTableCheckTable.maximumKernelRanges else { return false }
        words[PageTableCheckTable.kernelRangeWord(count)] = start
        words[PageTableCheckTable.kernelRangeWord(count) + 1] = end
        self[.kernelRangeCount] = UInt64(count + 1)
        return true
    }

    /// Adds a physical range `[start, end)` several spaces may map writable; false when full.
    public func addSharedRange(start: UInt64, end: UInt64) -> Bool {
        let count = Int(self[.sharedRangeCount])
        guard count < PageTableCheckTable.maximumSharedRanges else { return false }
        words[PageTableCheckTable.sharedRangeWord(count)] = start
        words[PageTableCheckTable.sharedRangeWord(count) + 1] = end
        self[.sharedRangeCount] = UInt64(count + 1)
        return true
    }
}
