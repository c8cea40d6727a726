#if canImport(GuestMemory)
import GuestMemory
#endif

// Calls to the kernel's test memory space: one 512 GiB region at `testSpaceBase`.

/// Reserves `pages` pages with `backing` and `flags`. Replies the start.
public struct ReserveSpace: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public static let code = CallCode.reserveSpace
    public var pages: UInt64
    public var backing: Backing
    public var flags: PageTableFlags
    public init(pages: UInt64, backing: Backing, flags: PageTableFlags) {
        self.pages = pages; self.backing = backing; self.flags = flags
    }
    public init(from decoder: inout WireDecoder) throws(WireError) {
        pages = try decoder.word(); backing = try decoder.decode(); flags = try decoder.decode()
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(pages); encoder.encode(backing); encoder.encode(flags) }
}

/// Frees the reservation that starts at `start`. Replies the frames freed.
public struct FreeSpace: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public static let code = CallCode.freeSpace
    public var start: UInt64
    public init(start: UInt64) { self.start = start }
    public init(from decoder: inout WireDecoder) throws(WireError) { start = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(start) }
}

/// The reservation holding `address`, if any, and the space's counters.
public struct QuerySpace: GuestCall, Equatable, Sendable {
    public struct Found: Wire, Equatable, Sendable {
        public var start: UInt64
        public var pageCount: UInt64
        public var backing: Backing
        public init(start: UInt64, pageCount: UInt64, backing: Backing) {
            self.start = start; self.pageCount = pageCount; self.backing = backing
        }
        public init(from decoder: inout WireDecoder) throws(WireError) {
            start = try decoder.word(); pageCount = try decoder.word(); backing = try decoder.decode()
        }
        public func encode(to encoder: inout WireEncoder) { encoder.word(start); encoder.word(pageCount); encoder.encode(backing) }
    }
    public struct Reply: Wire, Equatable, Sendable {
        public var reservation: Found?
        public var highWaterMark: UInt64
        /// Reservations placed by searching the gaps, once the high-water mark had passed the end.
        public var fallbackCount: UInt64
        public init(reservation: Found?, highWaterMark: UInt64, fallbackCount: UInt64) {
            self.reservation = reservation; self.highWaterMark = highWaterMark; self.fallbackCount = fallbackCount
        }
        public init(from decoder: inout WireDecoder) throws(WireError) {
            reservation = try decoder.decode(); highWaterMark = try decoder.word(); fallbackCount = try decoder.word()
        }
        public func encode(to encoder: inout WireEncoder) { encoder.encode(reservation); encoder.word(highWaterMark); encoder.word(fallbackCount) }
    }
    public static let code = CallCode.querySpace
    public var address: UInt64
    public init(address: UInt64) { self.address = address }
    public init(from decoder: inout WireDecoder) throws(WireError) { address = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(address) }
}
