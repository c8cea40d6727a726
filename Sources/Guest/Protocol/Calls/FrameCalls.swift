// Calls to the kernel's physical memory: the bitmap frame allocator.

/// The allocator's counts and what the kernel reserved at boot.
// wire: call 7
public struct ReadFrameStatistics: GuestCall, Equatable, Sendable {
    public typealias Reply = FrameStatistics
    public init() {}
}

/// What the kernel takes from usable RAM at boot, item by item.
public enum ReservationKind: UInt64, Wire, CaseIterable, Sendable {
    case pageZero = 1
    case bootstrapTables = 2
    case kernelImage = 3
    case startInfo = 4
    case memoryMap = 5
    case frameBitmap = 6
    /// The page the other CPUs start in (AP_TRAMPOLINE_PHYSICAL), with several CPUs.
    case startupTrampoline = 7
    /// The other CPUs' stacks and the PML4 they idle in, with several CPUs.
    case cpuStacks = 8

    public var name: StaticString {
        switch self {
        case .pageZero: "page zero"
        case .bootstrapTables: "bootstrap page tables"
        case .kernelImage: "kernel image"
        case .startInfo: "start info"
        case .memoryMap: "memory map"
        case .frameBitmap: "frame bitmap"
        case .startupTrampoline: "CPU start-up trampoline"
        case .cpuStacks: "CPU stacks, idle PML4"
        }
    }
}

public struct FrameStatistics: Wire, Equatable, Sendable {
    /// One range the kernel took at boot: physical addresses `start..<end`.
    // wire: end in start...UInt64.max
    public struct Reservation: Wire, Equatable, Sendable {
        public var kind: ReservationKind
        public var start: UInt64
        public var end: UInt64
        /// How many usable, free frames this reservation took.
        public var framesTaken: UInt64
        public init(kind: ReservationKind, start: UInt64, end: UInt64, framesTaken: UInt64) {
            self.kind = kind; self.start = start; self.end = end; self.framesTaken = framesTaken
        }
        public var range: Range<UInt64> { start..<end }
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

    public init(total: UInt64, free: UInt64, used: UInt64, reserved: UInt64, usable: UInt64, bitmapPhysical: UInt64,
                bitmapBytes: UInt64, kernelPageTables: UInt64, reservations: [Reservation]) {
        self.total = total; self.free = free; self.used = used; self.reserved = reserved; self.usable = usable
        self.bitmapPhysical = bitmapPhysical; self.bitmapBytes = bitmapBytes
        self.kernelPageTables = kernelPageTables; self.reservations = reservations
    }

    public func reservation(_ kind: ReservationKind) -> Reservation? { reservations.first { $0.kind == kind } }
}

/// Allocates `count` frames, at most `limit`; fewer when memory runs out.
/// Replies their physical addresses.
// wire: call 8
public struct AllocateFrames: GuestCall, Equatable, Sendable {
    public typealias Reply = [UInt64]
    public static let limit: UInt64 = 400
    public var count: UInt64
    public init(count: UInt64) { self.count = count }
}

/// Frees the frame at physical `address`; a refused free is `CallError.frame`.
// wire: call 9
public struct FreeFrame: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public var address: UInt64
    public init(address: UInt64) { self.address = address }
}

/// `count` contiguous frames aligned to `alignment` frames. Replies the
/// first one's address, or nil when no run is free.
// wire: call 10
public struct AllocateContiguousFrames: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64?
    public var count: UInt64
    public var alignment: UInt64
    public init(count: UInt64, alignment: UInt64) { self.count = count; self.alignment = alignment }
}

/// What the allocator knows of the frame at physical `address`.
// wire: call 11
public struct QueryFrame: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var isFree: Bool
        public var isReserved: Bool
        /// Handed out before and not yet known to be zero.
        public var mustZero: Bool
        public init(isFree: Bool, isReserved: Bool, mustZero: Bool) {
            self.isFree = isFree; self.isReserved = isReserved; self.mustZero = mustZero
        }
    }
    public var address: UInt64
    public init(address: UInt64) { self.address = address }
}

/// Allocates every free frame, writing `marker ^ address` at offset 0 of each
/// and chaining them through offset 8.
// wire: call 12
public struct ExhaustFrames: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var count: UInt64
        public var lowest: UInt64
        public var highest: UInt64
        public init(count: UInt64, lowest: UInt64, highest: UInt64) { self.count = count; self.lowest = lowest; self.highest = highest }
    }
    public static let marker: UInt64 = 0x4652_414D_4521_0000
    public init() {}
}

/// The allocator's worst case at 99% full against a linear scan of the same
/// bitmap, both in the kernel: every free frame is taken but 1% (by
/// contiguous runs), the 1% left lies just below where the next search
/// starts (so next fit laps its whole summary), one frame is allocated and
/// given back, and a linear scan from frame 0 finds the first free frame;
/// then everything is given back. Afterwards every frame counts as handed
/// out (it must be zeroed before use). TSC cycles are the guest's.
// wire: call 37
public struct MeasureFrameSearch: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        /// Usable frames, and the free ones left at 99% full.
        public var usableFrames: UInt64
        public var freeFrames: UInt64
        /// The frame each search found, and its cycles.
        public var nextFitFrame: UInt64
        public var nextFitCycles: UInt64
        public var linearScanFrame: UInt64
        public var linearScanCycles: UInt64
        /// The whole call's cycles, for converting to time.
        public var totalCycles: UInt64

        public init(usableFrames: UInt64, freeFrames: UInt64, nextFitFrame: UInt64, nextFitCycles: UInt64, linearScanFrame: UInt64,
                    linearScanCycles: UInt64, totalCycles: UInt64) {
            self.usableFrames = usableFrames; self.freeFrames = freeFrames
            self.nextFitFrame = nextFitFrame; self.nextFitCycles = nextFitCycles
            self.linearScanFrame = linearScanFrame; self.linearScanCycles = linearScanCycles; self.totalCycles = totalCycles
        }
    }
    /// The most contiguous runs the fill may take: a map more fragmented
    /// than this is refused (`tooMany`), never measured in part.
    public static let runLimit: UInt64 = 1024
    public init() {}
}

/// Frees every frame `ExhaustFrames` took. Replies how many.
// wire: call 13
public struct FreeExhaustedFrames: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public init() {}
}

/// Takes one frame the kernel cannot do without: out of memory is a kernel
/// panic that names the request. Replies its address.
// wire: call 14
public struct RequireFrame: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public init() {}
}

/// Points the allocator's next search at frame 0 (frames used before, which
/// need zeroing, come first), or when `fresh` past every frame handed out
/// since boot (known-zero frames first). For benchmarks.
// wire: call 27
public struct RestartFrameSearch: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public var fresh: Bool
    public init(fresh: Bool) { self.fresh = fresh }
}
