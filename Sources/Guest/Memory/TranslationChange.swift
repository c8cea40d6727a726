// What a page-table write took away from a translation the TLB may hold.
// Only such a write needs an invalidation before the old translation could
// be used: x86 caches no translation of a page that is not present, and a
// translation that grants less than the entry now does costs at most a
// spurious fault, which itself drops the cached translation. The TLB
// checker (in the kernel) hears of each one as an obligation to invalidate.

public enum TranslationChange: UInt8, CaseIterable, Sendable {
    /// A present entry made not present (an unmap, a table unlinked).
    case unmapped = 1
    /// A present entry now points at another frame or table.
    case frameChanged = 2
    /// Writable taken away.
    case madeReadOnly = 3
    /// User access taken away.
    case madeSupervisorOnly = 4
    /// No-execute added.
    case madeNoExecute = 5
    /// The page size (the huge flag) or the memory type (PWT, PCD) changed.
    case sizeOrTypeChanged = 6
    /// A table entry above a new page was widened to grant what the page
    /// grants. A cached copy of the narrower entry gives a spurious fault,
    /// which this kernel takes as fatal in ring 0 and as the process's
    /// fault in ring 3: so it too needs an invalidation, of the new page
    /// (an invlpg drops every cached table entry). Not a function of the
    /// entry alone (`init(old:new:)` never names it): the Pagemap tells it
    /// where it widens.
    case tableEntryWidened = 7

    /// The change from `old` to `new`, or nil when the TLB cannot hold a
    /// translation that `new` makes wrong. The first that applies, in the
    /// order of the cases. The count and marker bits the Pagemap keeps in
    /// ignored bits, and accessed and dirty, change no translation.
    public init?(old: UInt64, new: UInt64) {
        let present = PageTableFlags.present.rawValue
        guard old & present != 0 else { return nil }
        if new & present == 0 {
            self = .unmapped
        } else if old & PageTableEntry.addressMask != new & PageTableEntry.addressMask {
            self = .frameChanged
        } else if Self.taken(.writable, old, new) {
            self = .madeReadOnly
        } else if Self.taken(.user, old, new) {
            self = .madeSupervisorOnly
        } else if old & PageTableFlags.noExecute.rawValue == 0 && new & PageTableFlags.noExecute.rawValue != 0 {
            self = .madeNoExecute
        } else if (old ^ new) & PageTableFlags([.huge, .writeThrough, .cacheDisable]).rawValue != 0 {
            self = .sizeOrTypeChanged
        } else {
            return nil
        }
    }

    private static func taken(_ flag: PageTableFlags, _ old: UInt64, _ new: UInt64) -> Bool {
        old & flag.rawValue != 0 && new & flag.rawValue == 0
    }

    public var name: String {
        switch self {
        case .unmapped: return "unmapped"
        case .frameChanged: return "pointed at another frame"
        case .madeReadOnly: return "made read-only"
        case .madeSupervisorOnly: return "made supervisor-only"
        case .madeNoExecute: return "made no-execute"
        case .sizeOrTypeChanged: return "changed in page size or memory type"
        case .tableEntryWidened: return "widened above a new page"
        }
    }
}

/// Where the Pagemap tells of each write a `TranslationChange` names: the
/// root of the tables written, the address whose walk goes through the
/// entry, the entry's level, whether it is a leaf (a page, which an invlpg
/// of any address in it invalidates) or a table entry (every translation
/// below it may be cached: only a full flush covers it), and the change.
/// Nil (nothing told) unless a checker installs itself: the kernel's TLB
/// checker, or a test of the Pagemap.
public enum TranslationChangeWitness {
    public typealias Witness = @convention(c) (_ root: UInt64, _ address: UInt64, _ level: UInt8, _ leaf: Bool,
                                               _ change: UInt8) -> Void
    nonisolated(unsafe) public static var witness: Witness? = nil

    @inline(__always)
    static func tell(root: Frame, address: UInt64, level: Int, leaf: Bool, old: UInt64, new: UInt64) {
        guard let witness, let change = TranslationChange(old: old, new: new) else { return }
        witness(root.address, address, UInt8(level), leaf, change.rawValue)
    }

    /// A present table entry at `level` on the way to `address` now grants more.
    @inline(__always)
    static func tellWidened(root: Frame, address: UInt64, level: Int) {
        guard let witness else { return }
        witness(root.address, address, UInt8(level), false, TranslationChange.tableEntryWidened.rawValue)
    }
}
