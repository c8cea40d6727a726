// Access checks on huge leaves, in the manner of kvm-unit-tests' x86/access.c:
// a 2 MiB leaf in the PD or a 1 GiB leaf in the PDPT, with present,
// writable, no-execute and user, with or without a reserved bit, read,
// written or fetched from ring 0 with CR0.WP on or off. The entries above
// the leaf grant everything, so the leaf decides.

/// A reserved bit a check sets in its leaf.
public enum ReservedLeafBit: Equatable, Sendable {
    case none
    /// Bit 13: inside the address field, below the leaf's alignment (bits
    /// 13-20 of a 2 MiB leaf and 13-29 of a 1 GiB one must be zero; bit 12
    /// is PAT).
    case belowAlignment
    /// Bit MAXPHYADDR: an address bit the CPU does not have. None where
    /// MAXPHYADDR is 52.
    case abovePhysicalAddress

    /// The bit to set under `modes`, nil for none.
    public func bit(_ modes: MMUModes) -> Int? {
        switch self {
        case .none: nil
        case .belowAlignment: 13
        case .abovePhysicalAddress: modes.physicalAddressBits < 52 ? modes.physicalAddressBits : nil
        }
    }
}

/// One huge-leaf combination: 2 (sizes) x 16 (flags) x 3 (reserved bits)
/// x 3 (accesses) x 2 (CR0.WP) = 576.
public struct HugeLeafCheck: Equatable, Sendable {
    public static let count = 576

    /// 2: a 2 MiB leaf in the PD; 3: a 1 GiB leaf in the PDPT.
    public let level: Int
    public let leaf: PageTableFlags
    public let reserved: ReservedLeafBit
    public let access: AccessKind
    public let writeProtect: Bool

    /// The combination numbered `index` (0 ..< count).
    public init(index: Int) {
        leaf = accessCheckFlags(index & 15)
        let rest = index >> 4
        reserved = rest % 3 == 0 ? .none : rest % 3 == 1 ? .belowAlignment : .abovePhysicalAddress
        let access = rest / 3
        self.access = access % 3 == 0 ? .read : access % 3 == 1 ? .write : .fetch
        writeProtect = (access / 3) % 2 == 1
        level = access / 6 == 0 ? 2 : 3
    }

    /// The bytes the leaf maps.
    public var pageSize: UInt64 { level == 2 ? hugePageSize : gigabytePageSize }

    /// The leaf's raw entry mapping the aligned memory around `physical`.
    public func entry(around physical: UInt64, _ modes: MMUModes) -> UInt64 {
        let reservedBit = reserved.bit(modes).map { UInt64(1) << UInt64($0) } ?? 0
        return (physical & ~(pageSize - 1)) | leaf.union(.huge).rawValue | reservedBit
    }

    /// The error code of the page fault the access raises, or nil when it
    /// is allowed: not present first; then any reserved bit (bit 13 or
    /// MAXPHYADDR, the huge flag of a PDPT entry without pdpe1gb, bit 63
    /// without NXE) is RSVD; then the supervisor's permission checks.
    public func predictedFault(_ modes: MMUModes) -> UInt64? {
        let code = modes.accessBits(access)
        guard leaf.contains(.present) else { return code }
        if reserved.bit(modes) != nil || (level == 3 && !modes.gigabytePages) || (!modes.noExecute && leaf.contains(.noExecute)) {
            return code | PageFaultError.protection | PageFaultError.reservedBit
        }
        return modes.supervisorFault(access, code: code, userPage: leaf.contains(.user), writable: leaf.contains(.writable),
                                     noExecutePage: leaf.contains(.noExecute), writeProtect: writeProtect, alignmentCheckFlag: false)
    }
}
