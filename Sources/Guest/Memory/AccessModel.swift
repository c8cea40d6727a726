// The kernel's own model of what the MMU allows, in the manner of
// kvm-unit-tests' x86/access.c: for a page and the page-directory entry above
// it, which accesses fault and with what error code. The live guest checks
// this model against the real MMU for every combination.

public enum AccessKind: Equatable, Sendable {
    case read, write, fetch
}

/// Bits of the page-fault error code.
public enum PageFaultError {
    /// Set for a protection violation, clear for a page that is not present.
    public static let protection: UInt64 = 1 << 0
    public static let write: UInt64 = 1 << 1
    public static let user: UInt64 = 1 << 2
    public static let reservedBit: UInt64 = 1 << 3
    public static let instructionFetch: UInt64 = 1 << 4
}

/// The CPU's paging modes the model depends on.
public struct MMUModes: Equatable, Sendable {
    /// EFER.NXE: bit 63 means no-execute. Off (a CPU without NX), bit 63 is
    /// reserved: a present entry with it set faults with RSVD, and the
    /// error code has no instruction-fetch bit (it needs NXE or SMEP).
    public var noExecute: Bool

    public init(noExecute: Bool = true) {
        self.noExecute = noExecute
    }

    /// The fault an entry on the walk raises before any permission is
    /// checked: not present (nil code bits added), or a reserved bit.
    func walkFault(_ entry: PageTableFlags, code: UInt64) -> UInt64? {
        guard entry.contains(.present) else { return code }
        if !noExecute && entry.contains(.noExecute) { return code | PageFaultError.protection | PageFaultError.reservedBit }
        return nil
    }

    /// The error-code bits of the access itself.
    func accessBits(_ access: AccessKind) -> UInt64 {
        access == .write ? PageFaultError.write : access == .fetch && noExecute ? PageFaultError.instructionFetch : 0
    }
}

/// One combination: present, writable and no-execute on the leaf and on its
/// parent (the PD entry), an access, and CR0.WP. 2^3 x 2^3 x 3 x 2 = 384.
public struct AccessCheck: Equatable, Sendable {
    public static let count = 384

    public let leaf: PageTableFlags
    public let parent: PageTableFlags
    public let access: AccessKind
    public let writeProtect: Bool

    /// The combination numbered `index` (0 ..< count).
    public init(index: Int) {
        leaf = AccessCheck.flags(index & 7)
        parent = AccessCheck.flags((index >> 3) & 7)
        let rest = index >> 6
        access = rest % 3 == 0 ? .read : rest % 3 == 1 ? .write : .fetch
        writeProtect = rest / 3 == 1
    }

    private static func flags(_ bits: Int) -> PageTableFlags {
        var flags: PageTableFlags = []
        if bits & 1 != 0 { flags.insert(.present) }
        if bits & 2 != 0 { flags.insert(.writable) }
        if bits & 4 != 0 { flags.insert(.noExecute) }
        return flags
    }

    /// The error code of the page fault a supervisor access raises, or nil
    /// when the access is allowed, with CR4.SMEP and SMAP off and EFER.NXE on.
    public var predictedFault: UInt64? { predictedFault(MMUModes()) }

    /// The same under `modes`.
    public func predictedFault(_ modes: MMUModes) -> UInt64? {
        let code = modes.accessBits(access)
        // The walk meets the parent (PD entry) first, then the leaf.
        if let fault = modes.walkFault(parent, code: code) ?? modes.walkFault(leaf, code: code) { return fault }
        switch access {
        case .read:
            return nil
        case .write:
            let writable = leaf.contains(.writable) && parent.contains(.writable)
            return writable || !writeProtect ? nil : code | PageFaultError.protection
        case .fetch:
            let executable = !modes.noExecute || (!leaf.contains(.noExecute) && !parent.contains(.noExecute))
            return executable ? nil : code | PageFaultError.protection
        }
    }
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
        leaf = UserAccessCheck.flags(index & 15)
        parent = UserAccessCheck.flags((index >> 4) & 15)
        let rest = index >> 8
        access = rest == 0 ? .read : rest == 1 ? .write : .fetch
    }

    private static func flags(_ bits: Int) -> PageTableFlags {
        var flags: PageTableFlags = []
        if bits & 1 != 0 { flags.insert(.present) }
        if bits & 2 != 0 { flags.insert(.writable) }
        if bits & 4 != 0 { flags.insert(.noExecute) }
        if bits & 8 != 0 { flags.insert(.user) }
        return flags
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
