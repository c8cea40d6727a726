#if canImport(MemoryManager)
import MemoryManager
#endif

// The TLB checker's verdict: a page-table write left a translation the TLB
// may hold stale, and the kernel reached a point where it could be used
// without having invalidated it. The record names the first such write
// (the obligation) and where it was made; the host adds where the kernel
// stood when it noticed (the vCPU's own backtrace).

/// Where the kernel looked for a pending invalidation and found one.
public enum TLBCheckpoint: UInt64, Wire, CaseIterable, Sendable {
    /// A call from the host finished.
    case endOfCall = 1
    /// The kernel was about to run a process in ring 3 (a return from a
    /// trap, or the start of a process or of a ring-3 access check).
    case returnToUser = 2
    /// The kernel was about to access a page on purpose (its access probes).
    case kernelAccess = 3
    /// A command of the console's monitor finished.
    case endOfMonitorCommand = 4

    public var name: String {
        switch self {
        case .endOfCall: return "the call ended"
        case .returnToUser: return "the kernel returned to user mode"
        case .kernelAccess: return "the kernel probed a page"
        case .endOfMonitorCommand: return "the monitor's command ended"
        }
    }
}

// wire: level in 1...4
// A leaf maps a page: 4 KiB, 2 MiB or 1 GiB, never at the PML4.
// wire: leaf in 0...(level == 4 ? 0 : 1)
public struct StaleTranslationRecord: Wire {
    /// The address whose walk went through the entry written.
    public var address: UInt64
    /// The root (PML4 frame address) of the tables written: the address space.
    public var root: UInt64
    /// The entry's level (4 PML4 ... 1 PT).
    public var level: UInt64
    /// A leaf (a page, which an invlpg of it invalidates) or a table entry
    /// (every translation below may be cached: only a full flush covers it).
    public var leaf: Bool
    public var change: TranslationChange
    public var checkpoint: TLBCheckpoint
    /// The obligations pending at the checkpoint, this one included.
    public var pending: UInt64
    /// The return addresses of the code that wrote the entry, innermost first.
    public var writtenFrom: WordList

    public init(address: UInt64, root: UInt64, level: UInt64, leaf: Bool, change: TranslationChange,
                checkpoint: TLBCheckpoint, pending: UInt64, writtenFrom: WordList) {
        self.address = address
        self.root = root
        self.level = level
        self.leaf = leaf
        self.change = change
        self.checkpoint = checkpoint
        self.pending = pending
        self.writtenFrom = writtenFrom
    }
}

#if !GUEST_KERNEL
extension StaleTranslationRecord: Equatable, Sendable {}
#endif
