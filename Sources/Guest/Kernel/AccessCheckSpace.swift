// The scratch address space the access checks run in: the kernel's slot
// shared in, a page of ring-3 code, a stack, and the target page whose leaf
// and PD entry each combination sets. The target lies in the lower half,
// 1 GiB from the code, so its PD and PDPT entries are its own; the PML4
// and PDPT entries above it grant user and writable (the Pagemap widens
// parents for a user page), so the leaf and its parent decide every
// access. The huge-leaf checks put a 2 MiB leaf in place of the target's
// PD entry, or a 1 GiB leaf in place of its PDPT entry, mapping the
// aligned memory around the target's frame, and probe that frame.

struct AccessCheckSpace {
    static let codePage: UInt64 = 0x1000
    static let stackPage: UInt64 = 0x2000
    static let target = AccessCheckTarget.address
    private static let targetAddress = VirtualAddress(target)!

    private(set) var pagemap: Pagemap
    let code: Frame
    /// The frame the target page maps; its first byte is `ret`.
    let targetFrame: Frame
    private var taken: [Frame] = []
    /// The target's PDPT and PD entries as built, which a huge leaf displaces.
    private var tableEntries: (pdpt: UInt64, pd: UInt64) = (0, 0)

    /// Maps the three pages; the target holds `ret`, for fetches.
    init() throws(CallError) {
        guard let pagemap = Pagemap.create(frames: &PhysicalMemory.frames, directMap: KernelLayout.current.direct_map_base) else {
            throw .outOfFrames
        }
        self.pagemap = pagemap
        self.pagemap.shareTopLevelEntry(KernelAddressSpace.kernelSlot, from: KernelAddressSpace.pagemap)
        HostCheckTable.register(self.pagemap, .accessChecks)
        for _ in 0..<3 {
            guard let frame = PhysicalMemory.frames.allocate() else {
                code = Frame(containing: 0)
                targetFrame = code
                tearDown()
                throw .outOfFrames
            }
            taken.append(frame)
        }
        code = taken[0]
        targetFrame = taken[2]
        let stack = taken[1], page = taken[2]
        KernelLayout.directMap(stack.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize))
        KernelLayout.directMap(page.address).storeBytes(of: 0xC3, as: UInt8.self)  // ret
        do {
            try self.pagemap.map(Page(startingAt: Self.codePage)!, to: code, flags: [.user], frames: &PhysicalMemory.frames).ignore()
            try self.pagemap.map(Page(startingAt: Self.stackPage)!, to: stack, flags: [.user, .writable, .noExecute],
                                 frames: &PhysicalMemory.frames).ignore()
            try self.pagemap.map(Page(startingAt: Self.target)!, to: page, flags: [.user, .writable],
                                 frames: &PhysicalMemory.frames).ignore()
        } catch {
            tearDown()
            throw .map(error)
        }
        tableEntries = (self.pagemap.rawEntry(level: 3, of: Self.targetAddress) ?? 0,
                        self.pagemap.rawEntry(level: 2, of: Self.targetAddress) ?? 0)
    }

    /// Where a huge leaf of `size` bytes at the target maps the target's
    /// frame: the target is 1 GiB-aligned, the leaf maps the aligned memory
    /// around the frame, so the frame lies at the same offset from the target.
    func hugeLeafAddress(size: UInt64) -> UInt64 { Self.target + (targetFrame.address & (size - 1)) }

    /// Puts `raw`, a huge leaf, in place of the target's PD entry (level 2)
    /// or PDPT entry (level 3), the entry above it granting everything with
    /// its accessed bit clear, then reloads CR3.
    func setHugeLeaf(_ raw: UInt64, level: Int) {
        putTablesBack()
        guard pagemap.replaceEntry(level: level, of: Self.targetAddress, with: raw) != nil,
              let parentFlush = pagemap.setFlags([.present, .writable, .user], level: level + 1, of: Self.targetAddress) else {
            kernelPanic("access checks: the target page's tables are gone", Self.target)
        }
        parentFlush.flushAll { TLB.reload(pagemap, at: .accessCheckHugeLeaf) }
    }

    /// The target's PDPT and PD entries as built, in that order (the PD
    /// entry cannot be reached under a 1 GiB leaf).
    func putTablesBack() {
        guard pagemap.replaceEntry(level: 3, of: Self.targetAddress, with: tableEntries.pdpt) != nil,
              pagemap.replaceEntry(level: 2, of: Self.targetAddress, with: tableEntries.pd) != nil else {
            kernelPanic("access checks: the target page's tables are gone", Self.target)
        }
    }

    /// Sets the target's PD and PT entries (accessed and dirty clear), then
    /// loads this space into CR3, which drops every cached translation: a
    /// changed parent entry needs more than an invlpg.
    func set(parent: PageTableFlags, leaf: PageTableFlags) {
        guard let parentFlush = pagemap.setFlags(parent, level: 2, of: Self.targetAddress),
              let leafFlush = pagemap.setFlags(leaf, level: 1, of: Self.targetAddress) else {
            kernelPanic("access checks: the target page's tables are gone", Self.target)
        }
        leafFlush.ignore()  // covered by the reload below
        parentFlush.flushAll { TLB.reload(pagemap, at: .accessCheckEntries) }
    }

    /// The accessed and dirty bits the MMU left in the target's leaf at
    /// `leafLevel` (1: the PT entry) and the entry above it.
    func accessedDirty(leafLevel: Int) -> AccessedDirty {
        let leaf = pagemap.rawEntry(level: leafLevel, of: Self.targetAddress) ?? 0
        let parent = pagemap.rawEntry(level: leafLevel + 1, of: Self.targetAddress) ?? 0
        return AccessedDirty(leaf: PageTableFlags(rawValue: leaf), parent: PageTableFlags(rawValue: parent))
    }

    /// Each combination of `range` in turn: `probe` sets the entries, makes
    /// the access and gives its fault's error code (nil: none) and the level
    /// of the leaf it set; then the accessed and dirty bits are read back.
    /// The reply ends with the walk of the target as the last combination
    /// left it.
    func outcomes(of range: Range<Int>, probe: (Int) -> (fault: UInt64?, leafLevel: Int)) -> AccessCheckResults {
        var outcomes: [UInt8] = []
        outcomes.reserveCapacity(range.count * AccessOutcome.wireBytes)
        for index in range {
            let observed = probe(index)
            let outcome = AccessOutcome(fault: observed.fault, bits: accessedDirty(leafLevel: observed.leafLevel))
            outcomes.append(outcome.bytes.0)
            outcomes.append(outcome.bytes.1)
        }
        return AccessCheckResults(outcomes: WireBytes(outcomes), lastWalk: range.isEmpty ? PageWalkEntries() : walk())
    }

    /// The target's four entries as they are now.
    func walk() -> PageWalkEntries {
        var entries = PageWalkEntries()
        for level in stride(from: 4, through: 1, by: -1) {
            entries.append(pagemap.rawEntry(level: level, of: Self.targetAddress) ?? 0)
        }
        return entries
    }

    /// The kernel's CR3 again; entries back to what the Pagemap's invariants
    /// allow; then every page, table and frame goes back.
    mutating func tearDown() {
        TLB.load(KernelAddressSpace.pagemap)
        if let parentFlush = pagemap.setFlags([.present, .writable, .user], level: 2, of: Self.targetAddress),
           let leafFlush = pagemap.setFlags([.present, .writable, .user], level: 1, of: Self.targetAddress) {
            parentFlush.ignore()  // no longer in CR3
            leafFlush.ignore()
        }
        for virtual in [Self.codePage, Self.stackPage, Self.target] {
            if let flush = try? pagemap.unmap(Page(startingAt: virtual)!, frames: &PhysicalMemory.frames) {
                flush.ignore()  // not in CR3 any more
            }
        }
        HostCheckTable.unregister(pagemap)
        pagemap.unshareTopLevelEntry(KernelAddressSpace.kernelSlot)
        PhysicalMemory.free(pagemap.root)
        for frame in taken { PhysicalMemory.free(frame) }
    }

    /// The range `first ..< first + count` of `total` combinations, refused
    /// past the end or past what one reply holds.
    static func range(first: UInt64, count: UInt64, total: Int) throws(CallError) -> Range<Int> {
        guard count <= RunAccessChecks.limit else { throw .tooMany(requested: count, limit: RunAccessChecks.limit) }
        guard first <= UInt64(total) else { throw .tooMany(requested: first, limit: UInt64(total)) }
        // count is at most the limit here, so the sum cannot overflow.
        guard count <= UInt64(total) - first else { throw .tooMany(requested: first + count, limit: UInt64(total)) }
        return Int(first)..<Int(first + count)
    }
}
