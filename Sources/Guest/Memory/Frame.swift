// Physical frames: 4 KiB pieces of physical memory, named by number.

public let frameSize: UInt64 = 4096
public let frameShift: UInt64 = 12

/// One 4 KiB physical frame.
public struct Frame: Equatable, Comparable, Sendable {
    public let number: UInt64

    public init(number: UInt64) {
        self.number = number
    }

    /// The frame that holds `address`.
    public init(containing address: UInt64) {
        number = address >> frameShift
    }

    public var address: UInt64 { number << frameShift }

    public static func < (lhs: Frame, rhs: Frame) -> Bool { lhs.number < rhs.number }
}

/// 2 MiB of physical memory starting at a multiple of 2 MiB: what a huge page maps.
public struct HugeFrame: Equatable, Sendable {
    public let address: UInt64

    /// Nil unless `address` is a multiple of 2 MiB.
    public init?(startingAt address: UInt64) {
        guard address % hugePageSize == 0 else { return nil }
        self.address = address
    }

    /// Its first 4 KiB frame.
    public var first: Frame { Frame(containing: address) }
}

/// 1 GiB of physical memory starting at a multiple of 1 GiB: what a 1 GiB page maps.
public struct GigabyteFrame: Equatable, Sendable {
    public let address: UInt64

    /// Nil unless `address` is a multiple of 1 GiB.
    public init?(startingAt address: UInt64) {
        guard address % gigabytePageSize == 0 else { return nil }
        self.address = address
    }
}

/// Frames `start ..< start + count`.
public struct FrameRange: Equatable, Sendable {
    public let start: UInt64
    public let count: UInt64

    public init(start: UInt64, count: UInt64) {
        self.start = start
        self.count = count
    }

    /// The whole frames inside `[base, end)`: partial frames at either end
    /// are left out, since they are not wholly usable.
    public init(inside base: UInt64, end: UInt64) {
        let first = (base + frameSize - 1) >> frameShift
        let last = end >> frameShift
        start = first
        count = last > first ? last - first : 0
    }

    /// Every frame touching `[base, end)`: partial frames at either end are
    /// included, since something lies in them.
    public init(covering base: UInt64, end: UInt64) {
        let first = base >> frameShift
        let last = (end + frameSize - 1) >> frameShift
        start = first
        count = last > first ? last - first : 0
    }

    public var end: UInt64 { start + count }
    public var isEmpty: Bool { count == 0 }

    public func contains(_ frame: UInt64) -> Bool { frame >= start && frame < end }

    public func overlaps(_ other: FrameRange) -> Bool {
        start < other.end && other.start < end
    }
}
