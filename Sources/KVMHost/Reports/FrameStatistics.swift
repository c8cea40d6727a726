import GuestProtocol

/// The guest frame allocator's counts and what the kernel reserved at boot.
public struct FrameStatistics: Equatable, Sendable {
    public struct Reservation: Equatable, Sendable {
        public var kind: UInt64
        public var range: Range<UInt64>
        /// Usable, free frames this reservation took.
        public var framesTaken: UInt64
    }

    public var total: UInt64
    public var free: UInt64
    public var used: UInt64
    public var reserved: UInt64
    public var usable: UInt64
    public var bitmapPhysical: UInt64
    public var bitmapBytes: UInt64
    /// Frames the kernel's own page tables hold, root included (part of `used`).
    public var kernelPageTables: UInt64
    public var reservations: [Reservation]

    public init(reply: GuestReply) throws {
        let words = reply.values
        func word(_ index: Int) throws -> UInt64 {
            guard index < words.count else {
                throw ChannelError.undecodable(kind: RecordKind.reply, reason: "frame statistics cut short at word \(index)")
            }
            return words[index]
        }
        total = try word(FrameStatisticsWord.total)
        free = try word(FrameStatisticsWord.free)
        used = try word(FrameStatisticsWord.used)
        reserved = try word(FrameStatisticsWord.reserved)
        usable = try word(FrameStatisticsWord.usable)
        bitmapPhysical = try word(FrameStatisticsWord.bitmapPhysical)
        bitmapBytes = try word(FrameStatisticsWord.bitmapBytes)
        kernelPageTables = try word(FrameStatisticsWord.kernelPageTables)
        let count = Int(clamping: try word(FrameStatisticsWord.reservationCount))
        guard count <= words.count / ReservationWord.count else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "\(count) reservations in \(words.count) words")
        }
        reservations = try (0..<count).map { index in
            let first = FrameStatisticsWord.reservationsStart + index * ReservationWord.count
            let start = try word(first + ReservationWord.start), end = try word(first + ReservationWord.end)
            guard start <= end else {
                throw ChannelError.undecodable(kind: RecordKind.reply, reason: "reservation \(index) ends before it starts")
            }
            return Reservation(kind: try word(first + ReservationWord.kind), range: start..<end,
                               framesTaken: try word(first + ReservationWord.framesTaken))
        }
    }

    public func reservation(_ kind: UInt64) -> Reservation? {
        reservations.first { $0.kind == kind }
    }
}

extension LiveGuest {
    public func frameStatistics(timeout: Duration = LiveGuest.defaultTimeout) throws -> FrameStatistics {
        try FrameStatistics(reply: execute(.frameStatistics, timeout: timeout))
    }
}
