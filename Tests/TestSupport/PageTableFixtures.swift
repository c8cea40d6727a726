import GuestProtocol
import KVMHost

/// Page tables a test writes into guest memory by hand, and reads back
/// entry by entry: the test's own oracle for what a page-table check must
/// name, sharing no code with the host's walker.
public enum PageTableFixtures {
    public static let present: UInt64 = 1 << 0
    public static let writable: UInt64 = 1 << 1
    public static let user: UInt64 = 1 << 2
    public static let pageSize: UInt64 = 1 << 7
    public static let addressBits: UInt64 = 0x000F_FFFF_FFFF_F000
    /// What a hand-made table entry grants: everything, so the leaf decides.
    public static let table: UInt64 = present | writable | user

    /// The entries from `root` down to the leaf of `virtual` (or the first
    /// entry not present), read one by one from guest memory.
    public static func steps(_ memory: GuestMemory, root: UInt64, virtual: UInt64) throws -> [PageWalk.Step] {
        var steps: [PageWalk.Step] = []
        var table = root
        for level in stride(from: 4, through: 1, by: -1) {
            let index = Int((virtual >> UInt64(12 + 9 * (level - 1))) & 0x1FF)
            let entry = try memory.load(UInt64.self, at: table + UInt64(index * 8))
            steps.append(PageWalk.Step(level: level, tableAddress: table, index: index, entry: entry))
            if entry & present == 0 || (level < 4 && entry & pageSize != 0) { break }
            table = entry & addressBits
        }
        return steps
    }

    /// The words of the table the guest published.
    public static func publishedWords(_ guest: LiveGuest) throws -> [UInt64] {
        try (0..<PageTableCheckTable.wordCount).map { try guest.memory.load(UInt64.self, at: guest.pageTableCheckTable + UInt64($0 * 8)) }
    }

    /// Writes word `index` of the published table.
    public static func setPublishedWord(_ guest: LiveGuest, _ index: Int, _ value: UInt64) throws {
        try guest.memory.store(value, at: guest.pageTableCheckTable + UInt64(index * 8))
    }
}

/// An address space built by the test in frames the kernel allocated for it
/// (so they are used, not free): a PML4, PDPT, PD and PT chain covering the
/// 2 MiB at `base`, published to the host as a `testCase` space.
public struct HandMadeSpace {
    public static let base: UInt64 = 0x4000_0000
    public let memory: GuestMemory
    public let pml4: UInt64, pdpt: UInt64, pd: UInt64, pt: UInt64
    /// Its place in the published table.
    public let index: Int

    public init(guest: LiveGuest) throws {
        let frames = try guest.call(AllocateFrames(count: 4))
        precondition(frames.count == 4, "the guest had no 4 frames")
        memory = guest.memory
        (pml4, pdpt, pd, pt) = (frames[0], frames[1], frames[2], frames[3])
        for frame in frames { try memory.write([UInt8](repeating: 0, count: 4096), at: frame) }
        try memory.store(pdpt | PageTableFixtures.table, at: pml4 + Self.index(Self.base, level: 4) * 8)
        try memory.store(pd | PageTableFixtures.table, at: pdpt + Self.index(Self.base, level: 3) * 8)
        try memory.store(pt | PageTableFixtures.table, at: pd + Self.index(Self.base, level: 2) * 8)
        let count = try guest.memory.load(UInt64.self, at: guest.pageTableCheckTable + UInt64(PageTableCheckTable.Field.spaceCount.rawValue * 8))
        index = Int(count)
        try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.spaceWord(index), pml4)
        try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.spaceWord(index) + 1, PageTableCheckTable.SpaceKind.testCase.rawValue)
        try PageTableFixtures.setPublishedWord(guest, PageTableCheckTable.Field.spaceCount.rawValue, count + 1)
    }

    static func index(_ virtual: UInt64, level: Int) -> UInt64 { (virtual >> UInt64(12 + 9 * (level - 1))) & 0x1FF }

    /// Shares the kernel half as the kernel's spaces do: the same PML4 entry
    /// for slot 255, pointing at the kernel's own PDPT.
    public func shareKernelHalf(kernelRoot: UInt64) throws {
        try memory.store(try memory.load(UInt64.self, at: kernelRoot + 255 * 8), at: pml4 + 255 * 8)
    }

    /// Puts `entry` in the PT slot of page `page` (0 to 511) of the 2 MiB.
    public func setLeaf(page: Int, _ entry: UInt64) throws {
        try memory.store(entry, at: pt + UInt64(page * 8))
    }

    /// Puts `entry` in the PD slot of the 2 MiB, in place of the PT.
    public func setPDEntry(_ entry: UInt64) throws {
        try memory.store(entry, at: pd + Self.index(Self.base, level: 2) * 8)
    }

    public var space: PublishedTable.Space { .init(index: index, root: pml4, kind: .testCase) }

    /// The mapping of page `page` as the check must name it.
    public func mapping(page: Int) throws -> PageTableViolation.Mapping {
        let virtual = Self.base + UInt64(page) * 4096
        return .init(space: space, virtual: virtual, steps: try PageTableFixtures.steps(memory, root: pml4, virtual: virtual))
    }
}
