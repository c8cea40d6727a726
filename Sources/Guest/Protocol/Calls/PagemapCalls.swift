#if canImport(MemoryManager)
import MemoryManager
#endif

// Calls to the kernel's live Pagemap: mappings take effect, and every change
// is flushed from the TLB.

/// Which frame a new mapping gets.
public enum FrameChoice: Wire, Equatable, Sendable {
    /// A fresh frame from the allocator, which `UnmapPage` may free again.
    case allocate
    /// The frame at this physical address: it must start a frame of guest RAM.
    case existing(physical: UInt64)
}

/// Maps the page at `virtual` to `frame` with `flags`. Replies the frame's address.
// wire: call 15
public struct MapPage: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public var virtual: UInt64
    public var frame: FrameChoice
    public var flags: PageTableFlags
    public init(virtual: UInt64, frame: FrameChoice, flags: PageTableFlags) {
        self.virtual = virtual; self.frame = frame; self.flags = flags
    }
}

/// Unmaps the page at `virtual`, and frees its frame when `freeFrame`.
/// Replies the frame it mapped (nil for a lazy page).
// wire: call 16
public struct UnmapPage: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64?
    public var virtual: UInt64
    public var freeFrame: Bool
    public init(virtual: UInt64, freeFrame: Bool) { self.virtual = virtual; self.freeFrame = freeFrame }
}

/// Where `virtual` leads in the kernel's address space.
// wire: call 17
public struct Translate: GuestCall, Equatable, Sendable {
    // wire: level in 1...4
    public enum Reply: Wire, Equatable, Sendable {
        case mapped(physical: UInt64, flags: PageTableFlags, pageSize: UInt64)
        /// The walk stopped at `level` (4 PML4 ... 1 PT); `lazy`: a page a
        /// memory space will back on its first touch.
        case notPresent(level: Int, lazy: Bool)
    }
    public var virtual: UInt64
    public init(virtual: UInt64) { self.virtual = virtual }
}

/// The kernel Pagemap's root and how many tables it created and freed.
// wire: call 18
public struct ReadPagemapCounts: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var root: UInt64
        public var tablesCreated: UInt64
        public var tablesFreed: UInt64
        public init(root: UInt64, tablesCreated: UInt64, tablesFreed: UInt64) {
            self.root = root; self.tablesCreated = tablesCreated; self.tablesFreed = tablesFreed
        }
    }
    public init() {}
}

/// Runs kernel-mode access combinations `first ..< first + count` (at most
/// `limit` a call, of `AccessCheck.count`).
// wire: call 19
public struct RunAccessChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    /// What one reply holds: two bytes a combination in a record of 4 KiB.
    public static let limit: UInt64 = 1024
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
}

/// Runs user-mode access combinations `first ..< first + count` (at most
/// `RunAccessChecks.limit` a call, of `UserAccessCheck.count`).
// wire: call 28
public struct RunUserAccessChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
}

/// Runs huge-leaf combinations `first ..< first + count` (at most
/// `RunAccessChecks.limit` a call, of `HugeLeafCheck.count`): the target's
/// 2 MiB or 1 GiB around its frame mapped by one leaf.
// wire: call 36
public struct RunHugeLeafChecks: GuestCall, Equatable, Sendable {
    public typealias Reply = AccessCheckResults
    public var first: UInt64
    public var count: UInt64
    public init(first: UInt64, count: UInt64) { self.first = first; self.count = count }
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
// wire: call 32
public struct ReadMemory: GuestCall, Equatable, Sendable {
    public typealias Reply = WireBytes
    public static let limit: UInt64 = 2048
    public var virtual: UInt64
    public var count: UInt64
    public init(virtual: UInt64, count: UInt64) { self.virtual = virtual; self.count = count }
}

/// A timing loop over `count` pages at `benchmarkBase`, all onto one frame,
/// so that the host can time the Pagemap alone.
// wire: call 23
public struct RunPagemapBenchmark: GuestCall, Equatable, Sendable {
    public enum Phase: UInt64, Wire, Sendable { case map = 0, translate = 1, unmap = 2 }
    public struct Reply: Wire, Equatable, Sendable {
        public var tablesCreated: UInt64
        public var tablesFreed: UInt64
        /// The sum of the translated addresses, so the loop cannot be skipped.
        public var checksum: UInt64
        public init(tablesCreated: UInt64, tablesFreed: UInt64, checksum: UInt64) {
            self.tablesCreated = tablesCreated; self.tablesFreed = tablesFreed; self.checksum = checksum
        }
    }
    public var phase: Phase
    public var count: UInt64
    public init(phase: Phase, count: UInt64) { self.phase = phase; self.count = count }
}

/// Where the memory-manager tests and benchmarks map in the kernel's address space.
public let testSpaceBase: UInt64 = 0x0000_0100_0000_0000
public let benchmarkBase: UInt64 = 0x0000_0200_0000_0000
