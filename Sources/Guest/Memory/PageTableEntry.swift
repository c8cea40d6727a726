// Page-table entries: a frame address and a flag set, as the MMU reads them.
// The bits the assembly also reads come from machine.h.

#if canImport(MachineFacts)
import MachineFacts
#endif

public struct PageTableFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let present = PageTableFlags(rawValue: UInt64(PAGE_PRESENT))
    public static let writable = PageTableFlags(rawValue: UInt64(PAGE_WRITABLE))
    public static let user = PageTableFlags(rawValue: UInt64(PAGE_USER))
    public static let writeThrough = PageTableFlags(rawValue: 1 << 3)
    public static let cacheDisable = PageTableFlags(rawValue: 1 << 4)
    public static let accessed = PageTableFlags(rawValue: 1 << 5)
    public static let dirty = PageTableFlags(rawValue: 1 << 6)
    /// A 2 MiB page in a PD entry, a 1 GiB page in a PDPT entry.
    public static let huge = PageTableFlags(rawValue: UInt64(PAGE_HUGE))
    public static let global = PageTableFlags(rawValue: 1 << 8)
    public static let noExecute = PageTableFlags(rawValue: 1 << 63)

    /// Every bit above that the MMU reads as a flag.
    public static let all: PageTableFlags = [.present, .writable, .user, .writeThrough, .cacheDisable,
                                             .accessed, .dirty, .huge, .global, .noExecute]
    /// The flags that grant access, which a parent must grant too.
    public static let permissions: PageTableFlags = [.writable, .user]
}

public struct PageTableEntry: Equatable, Sendable {
    public var raw: UInt64

    /// Bits 12..51: the frame (or next table) address.
    public static let addressMask = UInt64(PAGE_ADDRESS_MASK)
    /// Ignored by the MMU; the Pagemap keeps a table's count of present entries
    /// in its parent entry, split over bits 9-11 (low 3) and 52-58 (high 7).
    static let countLowShift: UInt64 = 9
    static let countHighShift: UInt64 = 52
    static let countMask: UInt64 = (0x7 << 9) | (0x7F << 52)
    /// Ignored by the MMU while CR4.PKE is off (bits 59-62 hold protection keys
    /// only then): set in a PD entry when the demand-paging fast path has
    /// filled entries of its page table without counting them, so the count
    /// must be taken afresh before it is used. (So the fast path writes one
    /// entry per fault, the leaf, and the PD entry once per table.)
    public static let countStale: UInt64 = 1 << 62
    /// Ignored by the MMU when the entry is not present: marks a page that is
    /// reserved for its memory space but not backed yet (a lazy reservation).
    public static let lazyMarker: UInt64 = 1 << 10

    public init(raw: UInt64) { self.raw = raw }

    /// False on a CPU without NX (EFER.NXE off), where bit 63 is reserved:
    /// entries are then made without it, so nothing is no-execute. The
    /// kernel sets it once at boot, before its first mapping.
    nonisolated(unsafe) public static var noExecuteAvailable = true

    public init(address: UInt64, flags: PageTableFlags) {
        let flags = Self.noExecuteAvailable ? flags : flags.subtracting(.noExecute)
        raw = (address & Self.addressMask) | flags.rawValue
    }

    public static let empty = PageTableEntry(raw: 0)

    public var flags: PageTableFlags { PageTableFlags(rawValue: raw & PageTableFlags.all.rawValue) }
    public var address: UInt64 { raw & Self.addressMask }
    public var frame: Frame { Frame(containing: address) }
    public var isPresent: Bool { raw & PageTableFlags.present.rawValue != 0 }
    public var isHuge: Bool { raw & PageTableFlags.huge.rawValue != 0 }
    public var isEmpty: Bool { raw == 0 }
    /// Not present, but reserved for lazy backing.
    public var isLazy: Bool { !isPresent && raw & Self.lazyMarker != 0 }

    /// The number of present entries in the table this entry points to.
    var childCount: Int {
        Int((raw >> Self.countLowShift) & 0x7) | Int((raw >> Self.countHighShift) & 0x7F) << 3
    }

    mutating func setChildCount(_ count: Int) {
        let value = UInt64(count)
        raw = (raw & ~Self.countMask) | ((value & 0x7) << Self.countLowShift) | ((value >> 3) << Self.countHighShift)
    }
}
