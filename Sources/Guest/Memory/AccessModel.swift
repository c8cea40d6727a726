// The kernel's own model of what the MMU allows, in the manner of
// kvm-unit-tests' x86/access.c: for a page and the page-directory entry above
// it, which accesses fault and with what error code. The live guest checks
// this model against the real MMU for every combination.

#if canImport(MachineFacts)
import MachineFacts
#endif

public enum AccessKind: Equatable, Sendable {
    case read, write, fetch
}

/// Bits of the page-fault error code (machine.h).
public enum PageFaultError {
    /// Set for a protection violation, clear for a page that is not present.
    public static let protection = UInt64(PF_PROTECTION)
    public static let write = UInt64(PF_WRITE)
    public static let user = UInt64(PF_USER)
    public static let reservedBit = UInt64(PF_RESERVED_BIT)
    public static let instructionFetch = UInt64(PF_FETCH)
}

/// The CPU's paging modes the model depends on.
public struct MMUModes: Equatable, Sendable {
    /// EFER.NXE: bit 63 means no-execute. Off (a CPU without NX), bit 63 is
    /// reserved: a present entry with it set faults with RSVD, and the
    /// error code has no instruction-fetch bit (it needs NXE or SMEP).
    public var noExecute: Bool
    /// CR4.SMEP: ring 0 may not fetch from a user page.
    public var smep: Bool
    /// CR4.SMAP: ring 0 may not read or write a user page unless EFLAGS.AC is set.
    public var smap: Bool

    /// CPUID's pdpe1gb: a PDPT entry may map 1 GiB. Without it the huge
    /// flag there is a reserved bit.
    public var gigabytePages: Bool
    /// MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): address bits from it up to
    /// bit 51 are reserved in every entry.
    public var physicalAddressBits: Int

    public init(noExecute: Bool = true, smep: Bool = false, smap: Bool = false, gigabytePages: Bool = true,
                physicalAddressBits: Int = 48) {
        self.noExecute = noExecute
        self.smep = smep
        self.smap = smap
        self.gigabytePages = gigabytePages
        self.physicalAddressBits = physicalAddressBits
    }

    /// The fault an entry on the walk raises before any permission is
    /// checked: not present (nil code bits added), or a reserved bit.
    func walkFault(_ entry: PageTableFlags, code: UInt64) -> UInt64? {
        guard entry.contains(.present) else { return code }
        if !noExecute && entry.contains(.noExecute) { return code | PageFaultError.protection | PageFaultError.reservedBit }
        return nil
    }

    /// The fault a supervisor access raises once the walk met no
    /// not-present entry and no reserved bit: SMAP (a user page read or
    /// written with EFLAGS.AC clear), CR0.WP (a write to a read-only page),
    /// SMEP (a fetch from a user page), NX. `code` is `accessBits(access)`.
    func supervisorFault(_ access: AccessKind, code: UInt64, userPage: Bool, writable: Bool, noExecutePage: Bool,
                         writeProtect: Bool, alignmentCheckFlag: Bool) -> UInt64? {
        let protection = code | PageFaultError.protection
        switch access {
        case .read:
            return userPage && smap && !alignmentCheckFlag ? protection : nil
        case .write:
            if userPage && smap && !alignmentCheckFlag { return protection }
            return writable || !writeProtect ? nil : protection
        case .fetch:
            if userPage && smep { return protection }
            return noExecute && noExecutePage ? protection : nil
        }
    }

    /// The error-code bits of the access itself: the fetch bit only where
    /// NXE or SMEP can make a fetch fault.
    func accessBits(_ access: AccessKind) -> UInt64 {
        switch access {
        case .read: 0
        case .write: PageFaultError.write
        case .fetch: noExecute || smep ? PageFaultError.instructionFetch : 0
        }
    }
}

/// What the MMU left in the leaf and its parent (the PD entry) after one
/// access: their accessed and dirty bits, read back.
public struct AccessedDirty: Equatable, Sendable {
    public var leafAccessed: Bool
    public var leafDirty: Bool
    public var parentAccessed: Bool
    public var parentDirty: Bool

    public init(leafAccessed: Bool, leafDirty: Bool, parentAccessed: Bool, parentDirty: Bool) {
        self.leafAccessed = leafAccessed
        self.leafDirty = leafDirty
        self.parentAccessed = parentAccessed
        self.parentDirty = parentDirty
    }

    /// One byte on the wire: bits 0-3 in the order above.
    public init(byte: UInt8) {
        self.init(leafAccessed: byte & 1 != 0, leafDirty: byte & 2 != 0, parentAccessed: byte & 4 != 0, parentDirty: byte & 8 != 0)
    }

    public init(leaf: PageTableFlags, parent: PageTableFlags) {
        self.init(leafAccessed: leaf.contains(.accessed), leafDirty: leaf.contains(.dirty),
                  parentAccessed: parent.contains(.accessed), parentDirty: parent.contains(.dirty))
    }

    public var byte: UInt8 {
        (leafAccessed ? 1 : 0) | (leafDirty ? 2 : 0) | (parentAccessed ? 4 : 0) | (parentDirty ? 8 : 0)
    }

    /// Whether these bits are what the MMU must leave after an access that
    /// started from clear bits, as kvm-unit-tests' x86/access.c has it: an
    /// access allowed sets accessed in both entries and dirty in the leaf for
    /// a write; one that faults leaves the leaf as it was, and the parent's
    /// accessed bit is the CPU's choice. The PD entry's dirty bit (not a
    /// leaf) is never set.
    public func isAllowed(after access: AccessKind, faulted: Bool) -> Bool {
        if parentDirty { return false }
        if faulted { return !leafAccessed && !leafDirty }
        return leafAccessed && parentAccessed && leafDirty == (access == .write)
    }
}

/// One access's outcome as the kernel observed it, two bytes on the wire:
/// 0x80 | the error code's low five bits when it faulted (else 0), then the
/// accessed and dirty bits read back.
public struct AccessOutcome: Equatable, Sendable {
    public static let wireBytes = 2
    public var fault: UInt64?
    public var bits: AccessedDirty

    public init(fault: UInt64?, bits: AccessedDirty) {
        self.fault = fault
        self.bits = bits
    }

    public init(_ first: UInt8, _ second: UInt8) {
        fault = first & 0x80 != 0 ? UInt64(first & 0x1F) : nil
        bits = AccessedDirty(byte: second)
    }

    public var bytes: (UInt8, UInt8) {
        (fault.map { 0x80 | UInt8(truncatingIfNeeded: $0 & 0x1F) } ?? 0, bits.byte)
    }
}

/// One supervisor combination, in the manner of kvm-unit-tests' access.c:
/// present, writable, no-execute and user on the leaf and on its parent (the
/// PD entry), an access, CR0.WP, and EFLAGS.AC (which lets ring 0 reach user
/// pages under SMAP). 2^4 x 2^4 x 3 x 2 x 2 = 3072. The entries above the PD
/// grant user and writable, so the leaf and its parent decide.
public struct AccessCheck: Equatable, Sendable {
    public static let count = 3072

    public let leaf: PageTableFlags
    public let parent: PageTableFlags
    public let access: AccessKind
    public let writeProtect: Bool
    public let alignmentCheckFlag: Bool

    /// The combination numbered `index` (0 ..< count).
    public init(index: Int) {
        leaf = accessCheckFlags(index & 15)
        parent = accessCheckFlags((index >> 4) & 15)
        let rest = index >> 8
        access = rest % 3 == 0 ? .read : rest % 3 == 1 ? .write : .fetch
        writeProtect = (rest / 3) % 2 == 1
        alignmentCheckFlag = rest / 6 == 1
    }

    /// The error code of the page fault a supervisor access raises, or nil
    /// when the access is allowed, with CR4.SMEP and SMAP off and EFER.NXE on.
    public var predictedFault: UInt64? { predictedFault(MMUModes()) }

    /// The same under `modes`.
    public func predictedFault(_ modes: MMUModes) -> UInt64? {
        let code = modes.accessBits(access)
        // The walk meets the parent (PD entry) first, then the leaf.
        if let fault = modes.walkFault(parent, code: code) ?? modes.walkFault(leaf, code: code) { return fault }
        return modes.supervisorFault(access, code: code, userPage: leaf.contains(.user) && parent.contains(.user),
                                     writable: leaf.contains(.writable) && parent.contains(.writable),
                                     noExecutePage: leaf.contains(.noExecute) || parent.contains(.noExecute),
                                     writeProtect: writeProtect, alignmentCheckFlag: alignmentCheckFlag)
    }
}

/// Present, writable, no-execute and user from the low four bits.
func accessCheckFlags(_ bits: Int) -> PageTableFlags {
    var flags: PageTableFlags = []
    if bits & 1 != 0 { flags.insert(.present) }
    if bits & 2 != 0 { flags.insert(.writable) }
    if bits & 4 != 0 { flags.insert(.noExecute) }
    if bits & 8 != 0 { flags.insert(.user) }
    return flags
}

/// One user-mode combination: present, writable, no-execute and user on the
/// leaf and on its parent (the PD entry), and an access from ring 3.
/// 2^4 x 2^4 x 3 = 768. (CR0.WP does not matter to ring 3.)
public struct UserAccessCheck: Equatable, Sendable {
    public static let count = 768

    public let leaf: PageTableFlags
    public let parent: PageTableFlags
    public let access: AccessKind

    public init(index: Int) {
        leaf = accessCheckFlags(index & 15)
        parent = accessCheckFlags((index >> 4) & 15)
        let rest = index >> 8
        access = rest == 0 ? .read : rest == 1 ? .write : .fetch
    }

    /// The error code of the page fault a ring-3 access raises, or nil when
    /// it is allowed, with SMEP and SMAP off and EFER.NXE on.
    public var predictedFault: UInt64? { predictedFault(MMUModes()) }

    /// The same under `modes`.
    public func predictedFault(_ modes: MMUModes) -> UInt64? {
        let code = PageFaultError.user | modes.accessBits(access)
        if let fault = modes.walkFault(parent, code: code) ?? modes.walkFault(leaf, code: code) { return fault }
        let protection = code | PageFaultError.protection
        guard leaf.contains(.user), parent.contains(.user) else { return protection }
        switch access {
        case .read: return nil
        case .write: return leaf.contains(.writable) && parent.contains(.writable) ? nil : protection
        case .fetch: return modes.noExecute && (leaf.contains(.noExecute) || parent.contains(.noExecute)) ? protection : nil
        }
    }
}
