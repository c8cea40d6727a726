import Foundation
import GuestImage
import GuestProtocol
import KVMHost
import MemoryManager
import Synchronization

/// Where a backend's MMU differs from the architecture the model follows,
/// asked of the running backend, not assumed from a version: once a
/// process and backend, a guest runs every huge-leaf check and its
/// outcomes are compared with the architecture on the three points where an
/// MMU here was seen to differ (QEMU 7.2's TCG, measured). Any other
/// difference is no quirk: the checks that use these fail on it.
public struct MMUQuirks: Equatable, Sendable {
    /// A reserved-bit page fault leaves the error code's P bit clear (the
    /// SDM: P is 0 only for a not-present entry; this KVM sets it; QEMU
    /// 7.2's TCG gave 0x8 for a read through an entry with bit 63 set and
    /// EFER.NXE off, where this KVM gives 0x9).
    public var reservedBitFaultClearsPresent = false
    /// A PDPT entry with the huge flag is a 1 GiB page even where CPUID has
    /// no pdpe1gb, where the architecture faults with RSVD (QEMU 7.2's TCG
    /// allowed a read through 0xa1 under qemu64).
    public var gigabyteLeavesWithoutPDPE1GB = false
    /// A 1 GiB leaf's accessed bit is set before the checks that then fault
    /// the access (QEMU 7.2's TCG: a read through 0x2081 faulted with RSVD and
    /// left 0x20a1). Not-present entries and the reserved bits checked
    /// first (MAXPHYADDR, bit 63 without NXE) leave it clear.
    public var gigabyteLeafAccessedOnFault = false

    public init() {}

    /// The error code this MMU gives where the architecture gives `predicted`.
    public func expectedFault(_ predicted: UInt64?) -> UInt64? {
        guard reservedBitFaultClearsPresent, let code = predicted, code & PageFaultError.reservedBit != 0 else { return predicted }
        return code & ~PageFaultError.protection
    }

    /// The modes this MMU's walk follows under `modes`.
    public func walkModes(_ modes: MMUModes) -> MMUModes {
        var walk = modes
        if gigabyteLeavesWithoutPDPE1GB { walk.gigabytePages = true }
        return walk
    }

    /// Whether `check`, faulting, leaves its leaf accessed on this MMU.
    public func leafAccessedOnFault(_ check: HugeLeafCheck, _ modes: MMUModes) -> Bool {
        gigabyteLeafAccessedOnFault && check.level == 3 && check.leaf.contains(.present) && check.reserved != .abovePhysicalAddress
            && (modes.noExecute || !check.leaf.contains(.noExecute))
    }

    /// What `backend`'s MMU does, probed once a process (cached). KVM runs
    /// the host CPU's MMU, which follows the architecture here: no probe.
    public static func of(_ backend: Backend) throws -> MMUQuirks {
        try cache.withLock { probed in
            if let known = probed[backend] { return known }
            guard backend == .tcg else { return MMUQuirks() }
            let found = try probe(backend)
            probed[backend] = found
            return found
        }
    }

    private static let cache = Mutex<[Backend: MMUQuirks]>([:])

    /// Every huge-leaf check in a guest on `backend` under its default CPU,
    /// each outcome set against the architecture's prediction.
    private static func probe(_ backend: Backend) throws -> MMUQuirks {
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: LiveGuest.Configuration(backend: backend))
        _ = try guest.boot()
        let modes = try guest.call(ReadCPU()).mmuModes
        var gigabytes = modes
        gigabytes.gigabytePages = true
        var quirks = MMUQuirks()
        var first = 0
        while first < HugeLeafCheck.count {
            let count = min(Int(RunAccessChecks.limit), HugeLeafCheck.count - first)
            let results = try guest.call(RunHugeLeafChecks(first: UInt64(first), count: UInt64(count)), timeout: .seconds(60))
            for offset in 0..<min(count, results.count) {
                guard let outcome = results.outcome(offset) else { continue }
                let check = HugeLeafCheck(index: first + offset)
                let architecture = check.predictedFault(modes)
                if let code = outcome.fault, let predicted = architecture, predicted & PageFaultError.reservedBit != 0,
                   code & PageFaultError.reservedBit != 0, predicted & PageFaultError.protection != 0, code & PageFaultError.protection == 0 {
                    quirks.reservedBitFaultClearsPresent = true
                }
                if !modes.gigabytePages, check.level == 3, architecture != nil, check.predictedFault(gigabytes) == nil, outcome.fault == nil {
                    quirks.gigabyteLeavesWithoutPDPE1GB = true
                }
                if outcome.fault != nil, check.level == 3, check.leaf.contains(.present), check.reserved != .abovePhysicalAddress,
                   outcome.bits.leafAccessed {
                    quirks.gigabyteLeafAccessedOnFault = true
                }
            }
            first += count
        }
        _ = try? guest.shutdown()
        return quirks
    }
}
