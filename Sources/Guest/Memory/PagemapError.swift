// Why the Pagemap refused a request, with what the caller needs to know.

public enum PagemapError: Error, Equatable {
    case nonCanonical(address: UInt64)
    case misaligned(address: UInt64)
    /// The page is mapped already, to `frame`.
    case alreadyMapped(page: UInt64, frame: Frame)
    /// No frame was left for a new table at `level`.
    case frameAllocationFailed(level: Int)
    /// A huge page at `level` covers the address, so there is no table below it.
    case parentIsHugePage(level: Int)
    /// Nothing is mapped there; the walk stopped at `level`.
    case notMapped(page: UInt64, level: Int)
}
