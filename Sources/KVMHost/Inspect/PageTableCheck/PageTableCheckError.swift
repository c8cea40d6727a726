import GuestProtocol

/// Why the host could not check the guest's page tables: what the kernel
/// published (`PageTableCheckTable`) or the tables it leads to are not
/// something the host reads. Every word there is the guest's, so each of
/// these is an answer, never a crash or a walk without end.
public enum PageTableCheckError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No ready report yet, or it named no table.
    case notPublished
    /// The table itself does not lie whole in guest RAM.
    case tableOutsideRAM(address: UInt64)
    case badMagic(found: UInt64)
    /// A count (or the bitmap's frame count) above what the host takes.
    case countTooLarge(field: PageTableCheckTable.Field, count: UInt64, limit: UInt64)
    /// Something the table points at does not lie whole in guest RAM.
    case outsideRAM(what: String, address: UInt64, length: UInt64)
    /// A page table's address that does not start a frame.
    case notPageAligned(what: String, address: UInt64)
    /// A range that ends before it starts.
    case backwardsRange(what: String, start: UInt64, end: UInt64)
    case badSpaceKind(space: Int, value: UInt64)
    /// A present entry of space `space` points at a table outside guest RAM.
    case pageTableOutsideRAM(level: Int, table: UInt64, space: Int)
    /// A table met again at another level or place: tables that point back
    /// at each other, or one table used twice.
    case tableReachedTwice(table: UInt64, level: Int, firstLevel: Int, space: Int)
    /// A page table lies in what the table says is data (the bitmap, the
    /// table itself): the host would read page tables as data.
    case pageTableInData(table: UInt64, what: String)
    case tooManyTables(limit: Int)
    case tooManyMappings(limit: Int)

    public var description: String {
        switch self {
        case .notPublished:
            return "the kernel published no page-table check table (no ready report yet, or its address was 0)"
        case .tableOutsideRAM(let address):
            return "the page-table check table at \(hex(address)) does not lie whole in guest RAM"
        case .badMagic(let found):
            return "the page-table check table has magic \(hex(found)), not \(hex(PageTableCheckTable.magic))"
        case .countTooLarge(let field, let count, let limit):
            return "the page-table check table's \(field.name) is \(count), more than the host takes (\(limit))"
        case .outsideRAM(let what, let address, let length):
            return "the page-table check table's \(what) at \(hex(address)) (\(length) bytes) does not lie whole in guest RAM"
        case .notPageAligned(let what, let address):
            return "the page-table check table's \(what) at \(hex(address)) does not start a 4 KiB frame"
        case .backwardsRange(let what, let start, let end):
            return "the page-table check table's \(what) ends (\(hex(end))) before it starts (\(hex(start)))"
        case .badSpaceKind(let space, let value):
            return "the page-table check table's space \(space) has kind \(value), which names none"
        case .pageTableOutsideRAM(let level, let table, let space):
            return "space \(space): a present entry points at a level-\(level) page table at \(hex(table)), outside guest RAM"
        case .tableReachedTwice(let table, let level, let firstLevel, let space):
            return "space \(space): the page table at \(hex(table)) is reached again as a level-\(level) table "
                + "(first reached as level \(firstLevel)): tables that point back at each other, or one table in two places"
        case .pageTableInData(let table, let what):
            return "the page table at \(hex(table)) lies in \(what): the host would read page tables as data"
        case .tooManyTables(let limit):
            return "the address spaces have more than \(limit) page tables: the host stopped walking them "
                + "(the check's limit, not a broken invariant: checkPageTables(limits:) takes a higher one, "
                + "and LiveGuest.Configuration.checkPageTablesAfterCalls = false turns the check after each call off)"
        case .tooManyMappings(let limit):
            return "the address spaces have more than \(limit) mappings outside the direct map: the host stopped walking them "
                + "(the check's limit, not a broken invariant: checkPageTables(limits:) takes a higher one, "
                + "and LiveGuest.Configuration.checkPageTablesAfterCalls = false turns the check after each call off)"
        }
    }
}
