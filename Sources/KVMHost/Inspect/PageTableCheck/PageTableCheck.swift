import GuestProtocol

/// The host's page-table check, in the spirit of Linux's
/// CONFIG_PAGE_TABLE_CHECK but from outside the guest: it walks every
/// address space the kernel published (`PublishedTable`) with entry bits of
/// its own (`PageWalker`'s, never the kernel's Pagemap), reads the frame
/// bitmap from guest memory, and checks that
///   1. no frame the bitmap shows free is mapped;
///   2. no frame is mapped writable by two spaces unless declared shared
///      (a table several spaces share, the kernel half, is walked once);
///   3. no user-accessible mapping reaches a frame the kernel owns (any
///      page table, the published kernel ranges);
///   4. no page-table frame is mapped as a page, and no present entry has
///      reserved bits set.
/// Each mapping is named once, by the first of these it breaks in the
/// order reserved bits, page table as page, kernel frame, free frame; then
/// the pairs of writable mappings. Everything it reads is bounded.
public struct PageTableCheck {
    /// What one check may cost the host.
    public struct Limits: Sendable {
        /// Page tables read (4 KiB each), over all spaces.
        public var tables: Int
        /// Mappings kept outside the direct map (about 48 bytes each).
        public var mappings: Int
        /// Violations kept; the rest are counted.
        public var violations: Int

        public init(tables: Int = 16_384, mappings: Int = 1 << 18, violations: Int = 32) {
            self.tables = tables
            self.mappings = mappings
            self.violations = violations
        }
        public static let standard = Limits()
    }

    /// What a check found.
    public struct Report: Equatable, Sendable, CustomStringConvertible {
        public var spaces: Int
        public var tables: Int
        /// Leaves outside the direct map.
        public var mappings: Int
        /// In the order the check met them, at most `Limits.violations`.
        public var violations: [PageTableViolation]
        public var violationsLeftOut: Int

        public init(spaces: Int, tables: Int, mappings: Int, violations: [PageTableViolation], violationsLeftOut: Int) {
            self.spaces = spaces
            self.tables = tables
            self.mappings = mappings
            self.violations = violations
            self.violationsLeftOut = violationsLeftOut
        }

        public var description: String {
            let counts = "\(spaces) address space\(spaces == 1 ? "" : "s"), \(tables) page tables, \(mappings) mappings outside the direct map"
            guard !violations.isEmpty else { return "page tables: all invariants hold (\(counts))" }
            var lines = ["page tables: \(violations.count + violationsLeftOut) violation(s) (\(counts))"]
            lines += violations.map(\.description)
            if violationsLeftOut > 0 { lines.append("(\(violationsLeftOut) more left out)") }
            return lines.joined(separator: "\n")
        }
    }

    let memory: GuestMemory
    let table: PublishedTable
    /// MAXPHYADDR of the guest's CPU, as the host knows it: address bits
    /// from it to 51 are reserved.
    let physicalAddressBits: Int
    /// EFER.NXE of the guest's vCPU: without it bit 63 is reserved.
    let noExecute: Bool
    let limits: Limits

    public init(memory: GuestMemory, table: PublishedTable, physicalAddressBits: Int, noExecute: Bool = true,
                limits: Limits = .standard) {
        self.memory = memory
        self.table = table
        self.physicalAddressBits = min(max(physicalAddressBits, 32), 52)
        self.noExecute = noExecute
        self.limits = limits
    }

    /// Reads the table at `address`, then checks.
    public static func run(memory: GuestMemory, tableAddress: UInt64, physicalAddressBits: Int, noExecute: Bool = true,
                           limits: Limits = .standard) throws(PageTableCheckError) -> Report {
        let table = try PublishedTable(memory: memory, at: tableAddress)
        return try PageTableCheck(memory: memory, table: table, physicalAddressBits: physicalAddressBits, noExecute: noExecute,
                                  limits: limits).run()
    }

    // MARK: - The walk

    /// A leaf outside the direct map, or a user-accessible one inside it.
    struct Leaf {
        var space: Int
        var virtual: UInt64
        var physical: UInt64
        var size: UInt64
        var writable: Bool
        var user: Bool
        var inDirectMap: Bool
        /// Met again through a table another space reached first with
        /// narrower rights: the same mapping, seen with this space's rights.
        var again = false
    }

    struct Walked {
        /// Table address -> the level and virtual base it was first met at,
        /// and the widest rights it was walked with.
        var tables: [UInt64: (level: Int, base: UInt64, writable: Bool, user: Bool)] = [:]
        var leaves: [Leaf] = []
        var violations: [PageTableViolation] = []
        /// Reserved-bit violations past the limit, counted, not kept.
        var violationsLeftOut = 0
    }

    public func run() throws(PageTableCheckError) -> Report {
        var walked = Walked()
        for space in table.spaces {
            if let first = walked.tables[space.root] {
                // A root another space published too: the same tables, walked once.
                guard first.level == 4 else {
                    throw .tableReachedTwice(table: space.root, level: 4, firstLevel: first.level, space: space.index)
                }
                continue
            }
            try visit(space.root, level: 4, base: 0, space: space.index, path: [], writable: true, user: true, again: false,
                      into: &walked)
        }
        let tableFrames = walked.tables.keys.sorted()
        var violations = walked.violations
        var leftOut = walked.violationsLeftOut
        func add(_ found: @autoclosure () -> PageTableViolation) {
            if violations.count < limits.violations { violations.append(found()) } else { leftOut += 1 }
        }
        var bitmap = FreeFrames(memory: memory, table: table, leaves: walked.leaves)
        for leaf in walked.leaves {
            if leaf.again {
                // Seen by the first walk already, but for what this space may do.
                if leaf.user, let frame = firstKernelFrame(in: leaf, tableFrames) { add(violation(.userMapsKernelFrame, frame: frame, leaf)) }
                continue
            }
            if !leaf.inDirectMap, let frame = firstTableFrame(in: leaf, tableFrames) {
                add(violation(.pageTableMappedAsPage, frame: frame, leaf))
            } else if leaf.user, let frame = firstKernelFrame(in: leaf, tableFrames) {
                add(violation(.userMapsKernelFrame, frame: frame, leaf))
            } else if !leaf.inDirectMap, let frame = try bitmap.first(from: leaf.physical, size: leaf.size) {
                add(violation(.freeFrameMapped, frame: frame, leaf))
            }
        }
        writableInTwoSpaces(walked.leaves.filter { !$0.again }, add)
        return Report(spaces: table.spaces.count, tables: tableFrames.count, mappings: walked.leaves.count { !$0.inDirectMap && !$0.again },
                      violations: violations, violationsLeftOut: leftOut)
    }

    /// Reads one table and goes down its present entries.
    private func visit(_ tableAddress: UInt64, level: Int, base: UInt64, space: Int, path: [PageWalk.Step],
                       writable: Bool, user: Bool, again: Bool, into walked: inout Walked) throws(PageTableCheckError) {
        guard walked.tables.count < limits.tables else { throw .tooManyTables(limit: limits.tables) }
        // Checked before the table is read: its words would be taken as entries.
        if overlaps(tableAddress, UInt64(PageWalker.tableBytes), table.address, UInt64(PageTableCheckTable.byteCount)) {
            throw .pageTableInData(table: tableAddress, what: "the page-table check table")
        }
        if overlaps(tableAddress, UInt64(PageWalker.tableBytes), table.bitmapPhysical, (table.bitmapFrames + 63) / 64 * 8) {
            throw .pageTableInData(table: tableAddress, what: "the frame bitmap")
        }
        let before = walked.tables[tableAddress]
        walked.tables[tableAddress] = (level, base, writable || before?.writable == true, user || before?.user == true)
        var entries = [UInt64](repeating: 0, count: 512)
        do {
            try memory.withBytes(at: tableAddress, count: PageWalker.tableBytes) { bytes in
                for index in 0..<512 { entries[index] = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
            }
        } catch {
            throw .pageTableOutsideRAM(level: level, table: tableAddress, space: space)
        }
        let span: UInt64 = 1 << UInt64(12 + 9 * (level - 1))
        for index in 0..<512 {
            let entry = entries[index]
            guard entry & PageWalker.present != 0 else { continue }
            var virtual = base + UInt64(index) * span
            if virtual & (1 << 47) != 0 { virtual |= 0xFFFF_0000_0000_0000 }  // sign-extend the upper half
            // Made only where needed: most entries are direct-map leaves.
            var steps: [PageWalk.Step] { path + [PageWalk.Step(level: level, tableAddress: tableAddress, index: index, entry: entry)] }
            let isLeaf = level == 1 || (level <= 3 && entry & PageWalker.pageSizeBit != 0)
            let reserved = reservedBits(entry, level: level, isLeaf: isLeaf)
            if reserved != 0 {
                // Not followed: its address may be anything.
                guard walked.violations.count < limits.violations else {
                    walked.violationsLeftOut += 1
                    continue
                }
                walked.violations.append(PageTableViolation(rule: .reservedBitsSet, frame: tableAddress, reservedBits: reserved,
                                                            mappings: [.init(space: table.spaces[space], virtual: virtual, steps: steps)]))
                continue
            }
            let w = writable && entry & PageWalker.writable != 0
            let u = user && entry & PageWalker.user != 0
            let address = entry & PageWalker.addressBits
            if isLeaf {
                let inDirectMap = table.directMap.contains(virtual)
                // The direct map maps every frame by design: only a user
                // mapping there matters (rule 3); the rest are not kept.
                guard !inDirectMap || u else { continue }
                guard walked.leaves.count < limits.mappings else { throw .tooManyMappings(limit: limits.mappings) }
                walked.leaves.append(Leaf(space: space, virtual: virtual, physical: address & ~(span - 1), size: span,
                                          writable: w, user: u, inDirectMap: inDirectMap, again: again))
                continue
            }
            let next = address
            var isAgain = again
            if let first = walked.tables[next] {
                // A table another space shares at the same place (the kernel
                // half) is walked once; anything else is a loop or an alias.
                guard first.level == level - 1, first.base == virtual else {
                    throw .tableReachedTwice(table: next, level: level - 1, firstLevel: first.level, space: table.spaces[space].index)
                }
                // Again only where this path grants more than every walk so
                // far (at most twice more a table: writable, user), so that
                // what this space may do there is checked too.
                guard (w && !first.writable) || (u && !first.user) else { continue }
                isAgain = true
            }
            guard memory.contains(next, length: UInt64(PageWalker.tableBytes)) else { throw .pageTableOutsideRAM(level: level - 1, table: next, space: space) }
            try visit(next, level: level - 1, base: virtual, space: space, path: steps, writable: w, user: u, again: isAgain,
                      into: &walked)
        }
    }

    /// The bits of `entry` the CPU reserves at `level`: address bits from
    /// MAXPHYADDR to 51; a huge leaf's address bits below its alignment
    /// (bit 12 is its PAT bit); the page-size bit of a PML4 entry; bit 63
    /// without EFER.NXE.
    func reservedBits(_ entry: UInt64, level: Int, isLeaf: Bool) -> UInt64 {
        var mask: UInt64 = physicalAddressBits < 52 ? ((1 << 52) - 1) & ~((1 << UInt64(physicalAddressBits)) - 1) : 0
        if !noExecute { mask |= PageWalker.noExecute }
        if level == 4 { mask |= PageWalker.pageSizeBit }
        if isLeaf && level == 2 { mask |= ((1 << 21) - 1) & ~((1 << 13) - 1) }
        if isLeaf && level == 3 { mask |= ((1 << 30) - 1) & ~((1 << 13) - 1) }
        return entry & mask
    }

    // MARK: - The rules

    private func violation(_ rule: PageTableViolation.Rule, frame: UInt64, _ leaves: Leaf...) -> PageTableViolation {
        PageTableViolation(rule: rule, frame: frame, mappings: leaves.map(mapping))
    }

    /// The leaf's walk, by the host's walker from its space's root.
    private func mapping(_ leaf: Leaf) -> PageTableViolation.Mapping {
        let space = table.spaces[leaf.space]
        let steps = (try? PageWalker(memory: memory).walk(cr3: space.root, virtual: leaf.virtual).steps) ?? []
        return .init(space: space, virtual: leaf.virtual, steps: steps)
    }

    private func overlaps(_ start: UInt64, _ length: UInt64, _ otherStart: UInt64, _ otherLength: UInt64) -> Bool {
        start < otherStart &+ otherLength && otherStart < start &+ length
    }

    /// The lowest table frame inside the leaf's frames.
    private func firstTableFrame(in leaf: Leaf, _ tableFrames: [UInt64]) -> UInt64? {
        let index = lowerBound(tableFrames, leaf.physical)
        guard index < tableFrames.count, tableFrames[index] < leaf.physical &+ leaf.size else { return nil }
        return tableFrames[index]
    }

    /// The lowest frame of the leaf the kernel owns: a page table or a published range.
    private func firstKernelFrame(in leaf: Leaf, _ tableFrames: [UInt64]) -> UInt64? {
        var found = firstTableFrame(in: leaf, tableFrames)
        for range in table.kernelRanges where overlaps(leaf.physical, leaf.size, range.lowerBound, range.upperBound - range.lowerBound) {
            let frame = max(leaf.physical, range.lowerBound & ~4095)
            found = min(found ?? frame, frame)
        }
        return found
    }

    /// Pairs of writable leaves of two spaces over one frame outside the
    /// shared ranges, each handed to `add`: a sweep over the leaves by
    /// physical address.
    private func writableInTwoSpaces(_ leaves: [Leaf], _ add: (@autoclosure () -> PageTableViolation) -> Void) {
        let writable = leaves.filter { $0.writable && !$0.inDirectMap }.sorted {
            ($0.physical, $0.space, $0.virtual) < ($1.physical, $1.space, $1.virtual)
        }
        // Per space, the open leaf reaching furthest: at most one a space,
        // so a space mapping one frame many times costs no more.
        var open: [Leaf] = []
        for leaf in writable {
            open.removeAll { $0.physical &+ $0.size <= leaf.physical }
            for other in open where other.space != leaf.space {
                let frame = max(other.physical, leaf.physical)
                let end = min(other.physical &+ other.size, leaf.physical &+ leaf.size)
                guard let unshared = firstUnshared(from: frame, to: end) else { continue }
                add(violation(.writableInTwoSpaces, frame: unshared, other, leaf))
            }
            if let mine = open.firstIndex(where: { $0.space == leaf.space }) {
                if open[mine].physical &+ open[mine].size < leaf.physical &+ leaf.size { open[mine] = leaf }
            } else {
                open.append(leaf)
            }
        }
    }

    /// The first frame of `[start, end)` outside every shared range.
    private func firstUnshared(from start: UInt64, to end: UInt64) -> UInt64? {
        var frame = start
        while frame < end {
            guard let range = table.sharedRanges.first(where: { $0.contains(frame) }) else { return frame }
            frame = (range.upperBound + 4095) & ~4095
        }
        return nil
    }

    private func lowerBound(_ sorted: [UInt64], _ value: UInt64) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
