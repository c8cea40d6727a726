#if canImport(GuestMemory)
import GuestMemory
#endif

// Calls to the kernel's live Pagemap: mappings take effect, and every change
// is flushed from the TLB.

/// Which frame a new mapping gets.
public enum FrameChoice: Wire, Equatable, Sendable {
    /// A fresh frame from the allocator, which `UnmapPage` may free again.
    case allocate
    /// The frame at this physical address: it must start a frame of guest RAM.
    case existing(physical: UInt64)

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = try decoder.word(in: 0...1) == 0 ? .allocate : .existing(physical: try decoder.word())
    }
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .allocate: encoder.word(0)
        case .existing(let physical): encoder.word(1); encoder.word(physical)
        }
    }
}

/// Maps the page at `virtual` to `frame` with `flags`. Replies the frame's address.
public struct MapPage: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public static let code = CallCode.mapPage
    public var virtual: UInt64
    public var frame: FrameChoice
    public var flags: PageTableFlags
    public init(virtual: UInt64, frame: FrameChoice, flags: PageTableFlags) {
        self.virtual = virtual; self.frame = frame; self.flags = flags
    }
    public init(from decoder: inout WireDecoder) throws(WireError) {
        virtual = try decoder.word(); frame = try decoder.decode(); flags = try decoder.decode()
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(virtual); encoder.encode(frame); encoder.encode(flags) }
}

/// Unmaps the page at `virtual`, and frees its frame when `freeFrame`.
/// Replies the frame it mapped (nil for a lazy page).
public struct UnmapPage: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64?
    public static let code = CallCode.unmapPage
    public var virtual: UInt64
    public var freeFrame: Bool
    public init(virtual: UInt64, freeFrame: Bool) { self.virtual = virtual; self.freeFrame = freeFrame }
    public init(from decoder: inout WireDecoder) throws(WireError) { virtual = try decoder.word(); freeFrame = try decoder.decode() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(virtual); encoder.encode(freeFrame) }
}

/// Where `virtual` leads in the kernel's address space.
public struct Translate: GuestCall, Equatable, Sendable {
    public enum Reply: Wire, Equatable, Sendable {
        case mapped(physical: UInt64, flags: PageTableFlags, pageSize: UInt64)
        /// The walk stopped at `level` (4 PML4 ... 1 PT); `lazy`: a page a
        /// memory space will back on its first touch.
        case notPresent(level: Int, lazy: Bool)

        public init(from decoder: inout WireDecoder) throws(WireError) {
            if try decoder.decode(Bool.self) {
                let physical = try decoder.word(), flags = try decoder.decode(PageTableFlags.self)
                self = .mapped(physical: physical, flags: flags, pageSize: try decoder.word())
            } else {
                let level = Int(try decoder.word(in: 1...4))
                self = .notPresent(level: level, lazy: try decoder.decode())
            }
        }
        public func encode(to encoder: inout WireEncoder) {
            switch self {
            case .mapped(let physical, let flags, let pageSize):
                encoder.encode(true); encoder.word(physical); encoder.encode(flags); encoder.word(pageSize)
            case .notPresent(let level, let lazy):
                encoder.encode(false); encoder.word(UInt64(level)); encoder.encode(lazy)
            }
        }
    }
    public static let code = CallCode.translate
    public var virtual: UInt64
    public init(virtual: UInt64) { self.virtual = virtual }
    public init(from decoder: inout WireDecoder) throws(WireError) { virtual = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(virtual) }
}

/// The kernel Pagemap's root and how many tables it created and freed.
public struct ReadPagemapCounts: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var root: UInt64
        public var tablesCreated: UInt64
        public var tablesFreed: UInt64
        public init(from decoder: inout WireDecoder) throws(WireError) {
            root = try decoder.word(); tablesCreated = try decoder.word(); tablesFreed = try decoder.word()
        }
        public init(root: UInt64, tablesCreated: UInt64, tablesFreed: UInt64) {
            self.root = root; self.tablesCreated = tablesCreated; self.tablesFreed = tablesFreed
        }
        public func encode(to encoder: inout WireEncoder) { encoder.word(root); encoder.word(tablesCreated); encoder.word(tablesFreed) }
    }
    public static let code = CallCode.readPagemapCounts
    public init() {}
    public init(from decoder: inout WireDecoder) throws(WireError) {}
    public func encode(to encoder: inout WireEncoder) {}
}

/// Runs kernel-mode access combinations `first ..< first + count` (at most
/// `limit` a call, of `AccessCheck.count`).
public struct RunAccessChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    public static let code = CallCode.runAccessChecks
    /// What one reply holds: two bytes a combination in a record of 4 KiB.
    public static let limit: UInt64 = 1024
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) { first = try decoder.word(); count = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(first); encoder.word(count) }
}

/// Runs user-mode access combinations `first ..< first + count` (at most
/// `RunAccessChecks.limit` a call, of `UserAccessCheck.count`).
public struct RunUserAccessChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    public static let code = CallCode.runUserAccessChecks
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) { first = try decoder.word(); count = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(first); encoder.word(count) }
}

/// Runs huge-leaf combinations `first ..< first + count` (at most
/// `RunAccessChecks.limit` a call, of `HugeLeafCheck.count`): the target's
/// 2 MiB or 1 GiB around its frame mapped by one leaf.
public struct RunHugeLeafChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    public static let code = CallCode.runHugeLeafChecks
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) { first = try decoder.word(); count = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(first); encoder.word(count) }
}

/// The page both access checks run against, in their scratch space: in the
/// lower half, its own PD entry, with user and writable above it.
public enum AccessCheckTarget {
    public static let address: UInt64 = 0x4000_0000
}

/// What the access checks observed: `AccessOutcome.wireBytes` bytes a
/// combination, and the kernel's walk of the target right after the last
/// combination's access, before anything was put back (so a disagreement
/// can be shown with the entries the MMU saw).
public struct AccessCheckResults: Wire {
    public var outcomes: WireBytes
    public var lastWalk: PageWalkEntries
    public init(outcomes: WireBytes, lastWalk: PageWalkEntries) { self.outcomes = outcomes; self.lastWalk = lastWalk }
    public init(from decoder: inout WireDecoder) throws(WireError) { outcomes = try decoder.decode(); lastWalk = try decoder.decode() }
    public func encode(to encoder: inout WireEncoder) { encoder.encode(outcomes); encoder.encode(lastWalk) }
}

#if !GUEST_KERNEL
extension AccessCheckResults: Equatable, Sendable {
    /// Outcome `index` of this reply's combinations.
    public func outcome(_ index: Int) -> AccessOutcome? {
        let offset = index * AccessOutcome.wireBytes
        guard index >= 0, offset + 1 < outcomes.bytes.count else { return nil }
        return AccessOutcome(outcomes.bytes[offset], outcomes.bytes[offset + 1])
    }

    public var count: Int { outcomes.bytes.count / AccessOutcome.wireBytes }
}
#endif

/// Reads `count` bytes (at most `limit`) at `virtual` as the kernel sees
/// them, through its own page tables: what a load there would return.
public struct ReadMemory: GuestCall, Equatable, Sendable {
    public typealias Reply = WireBytes
    public static let code = CallCode.readMemory
    public static let limit: UInt64 = 2048
    public var virtual: UInt64
    public var count: UInt64
    public init(virtual: UInt64, count: UInt64) { self.virtual = virtual; self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) { virtual = try decoder.word(); count = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(virtual); encoder.word(count) }
}

/// A timing loop over `count` pages at `benchmarkBase`, all onto one frame,
/// so that the host can time the Pagemap alone.
public struct RunPagemapBenchmark: GuestCall, Equatable, Sendable {
    public enum Phase: UInt64, Sendable { case map = 0, translate = 1, unmap = 2 }
    public struct Reply: Wire, Equatable, Sendable {
        public var tablesCreated: UInt64
        public var tablesFreed: UInt64
        /// The sum of the translated addresses, so the loop cannot be skipped.
        public var checksum: UInt64
        public init(tablesCreated: UInt64, tablesFreed: UInt64, checksum: UInt64) {
            self.tablesCreated = tablesCreated; self.tablesFreed = tablesFreed; self.checksum = checksum
        }
        public init(from decoder: inout WireDecoder) throws(WireError) {
            tablesCreated = try decoder.word(); tablesFreed = try decoder.word(); checksum = try decoder.word()
        }
        public func encode(to encoder: inout WireEncoder) { encoder.word(tablesCreated); encoder.word(tablesFreed); encoder.word(checksum) }
    }
    public static let code = CallCode.runPagemapBenchmark
    public var phase: Phase
    public var count: UInt64
    public init(phase: Phase, count: UInt64) { self.phase = phase; self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) {
        phase = Phase(rawValue: try decoder.word(in: 0...2))!
        count = try decoder.word()
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(phase.rawValue); encoder.word(count) }
}

/// Where the memory-manager tests and benchmarks map in the kernel's address space.
public let testSpaceBase: UInt64 = 0x0000_0100_0000_0000
public let benchmarkBase: UInt64 = 0x0000_0200_0000_0000
