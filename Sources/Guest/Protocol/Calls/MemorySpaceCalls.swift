#if canImport(MemoryManager)
import MemoryManager
#endif

// Calls to the kernel's test memory space: one 512 GiB region at `testSpaceBase`.

/// Reserves `pages` pages with `backing` and `flags`. Replies the start.
// wire: call 20
public struct ReserveSpace: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public var pages: UInt64
    public var backing: Backing
    public var flags: PageTableFlags
    public init(pages: UInt64, backing: Backing, flags: PageTableFlags) {
        self.pages = pages; self.backing = backing; self.flags = flags
    }
}

/// Frees the reservation that starts at `start`. Replies the frames freed.
// wire: call 21
public struct FreeSpace: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public var start: UInt64
    public init(start: UInt64) { self.start = start }
}

/// The reservation holding `address`, if any, and the space's counters.
// wire: call 22
public struct QuerySpace: GuestCall, Equatable, Sendable {
    public struct Found: Wire, Equatable, Sendable {
        public var start: UInt64
        public var pageCount: UInt64
        public var backing: Backing
        public init(start: UInt64, pageCount: UInt64, backing: Backing) {
            self.start = start; self.pageCount = pageCount; self.backing = backing
        }
    }
    public struct Reply: Wire, Equatable, Sendable {
        public var reservation: Found?
        public var highWaterMark: UInt64
        /// Reservations placed by searching the gaps, once the high-water mark had passed the end.
        public var fallbackCount: UInt64
        public init(reservation: Found?, highWaterMark: UInt64, fallbackCount: UInt64) {
            self.reservation = reservation; self.highWaterMark = highWaterMark; self.fallbackCount = fallbackCount
        }
    }
    public var address: UInt64
    public init(address: UInt64) { self.address = address }
}
