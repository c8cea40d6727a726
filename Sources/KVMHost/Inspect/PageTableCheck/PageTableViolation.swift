/// A page-table invariant the guest broke, found by the host's check
/// (`PageTableCheck`): the rule, the frame at issue, and every mapping
/// involved with its whole walk (each level's table, index and raw entry).
public struct PageTableViolation: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Rule: String, Equatable, Sendable, CaseIterable {
        /// A present entry has bits set that the CPU reserves: above
        /// MAXPHYADDR, below a huge page's alignment, the PML4's page size.
        case reservedBitsSet
        /// A frame holding a page table is also mapped as a page.
        case pageTableMappedAsPage
        /// A user-accessible mapping reaches a frame the kernel owns.
        case userMapsKernelFrame
        /// A frame the allocator's bitmap shows free is mapped.
        case freeFrameMapped
        /// Two address spaces map one frame writable, and the kernel did not declare it shared.
        case writableInTwoSpaces

        public var text: String {
            switch self {
            case .reservedBitsSet: "a present entry has reserved bits set"
            case .pageTableMappedAsPage: "a page-table frame is mapped as a page"
            case .userMapsKernelFrame: "a user-accessible mapping reaches a frame the kernel owns"
            case .freeFrameMapped: "a frame the allocator shows free is mapped"
            case .writableInTwoSpaces: "a frame is mapped writable by two address spaces"
            }
        }
    }

    /// One mapping: in which space, at which address, through which entries.
    public struct Mapping: Equatable, Sendable, CustomStringConvertible {
        public var space: PublishedTable.Space
        public var virtual: UInt64
        /// From the PML4 down to the entry at issue (the leaf, or for
        /// reserved bits the entry that has them).
        public var steps: [PageWalk.Step]

        public init(space: PublishedTable.Space, virtual: UInt64, steps: [PageWalk.Step]) {
            self.space = space
            self.virtual = virtual
            self.steps = steps
        }

        public var description: String {
            let names = [4: "PML4", 3: "PDPT", 2: "PD", 1: "PT"]
            return (["\(space), \(hex(virtual)):"] + steps.map {
                "  \(names[$0.level] ?? "level \($0.level)")[\($0.index)] in table \(hex($0.tableAddress)) = \(hex($0.entry))"
            }).joined(separator: "\n")
        }
    }

    public var rule: Rule
    /// The physical frame at issue (for reserved bits, the table that holds the entry).
    public var frame: UInt64
    /// The reserved bits found (0 for the other rules).
    public var reservedBits: UInt64
    public var mappings: [Mapping]

    public init(rule: Rule, frame: UInt64, reservedBits: UInt64 = 0, mappings: [Mapping]) {
        self.rule = rule
        self.frame = frame
        self.reservedBits = reservedBits
        self.mappings = mappings
    }

    /// One line: the rule and the frame.
    public var summary: String {
        var head = "page-table check: \(rule.text) (\(rule.rawValue)): frame \(hex(frame))"
        if rule == .reservedBitsSet { head += ", reserved bits \(hex(reservedBits))" }
        return head
    }

    /// The summary, then each mapping's space, address and walk.
    public var description: String { ([summary] + mappings.map(\.description)).joined(separator: "\n") }
}
