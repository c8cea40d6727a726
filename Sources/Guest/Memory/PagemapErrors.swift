// Why the Pagemap refused a request, with what the caller needs to know: one
// enum an operation, so that each says only what it can throw. Alignment and
// canonical form are not among them: `Page`, `HugePage` and `HugeFrame`
// cannot hold a bad address.

/// Why the creating walk (`locatePage(_:creatingTablesGranting:frames:)`)
/// could not reach the leaf.
public enum TableError: Error, Equatable {
    /// No frame was left for a new table at `level`.
    case frameAllocationFailed(level: Int)
    /// A huge page at `level` covers the address, so there is no table below it.
    case parentIsHugePage(level: Int)
}

/// Why `map`, `mapRange`, `mapHuge`, `mapHugeRange` or `reserveLazily` refused.
public enum MapError: Error, Equatable {
    /// The page is mapped already, to `frame`.
    case alreadyMapped(page: UInt64, frame: Frame)
    /// No frame was left for a new table at `level`.
    case frameAllocationFailed(level: Int)
    /// A huge page at `level` covers the address, so there is no table below it.
    case parentIsHugePage(level: Int)
}

/// Why `unmap` or `unmapHuge` refused.
public enum UnmapError: Error, Equatable {
    /// Nothing is mapped there; the walk stopped at `level`.
    case notMapped(page: UInt64, level: Int)
    /// A huge page at `level` covers the address, so there is no table below it.
    case parentIsHugePage(level: Int)
}
