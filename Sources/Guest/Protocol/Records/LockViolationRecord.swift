// The kernel's lock validator's verdict (in the spirit of Linux's lockdep):
// the kernel took a lock in an order, or in a state, that can deadlock.
// Lock classes, not lock instances, are ordered: every Pagemap's lock is
// one class. The record names both places: where the lock was taken now,
// and where the order it breaks was first seen (or the lock first taken).

/// The kernel's kinds of lock, in the order they may nest: a lock of a
/// later class may be taken while one of an earlier class is held.
public enum LockClass: UInt64, Wire, CaseIterable, Sendable {
    /// A process's address space: its Pagemap and memory space, and its page trap.
    case processSpace = 1
    /// The physical frame allocator.
    case frameAllocator = 2
    /// The report channel's one report page.
    case reportChannel = 3
    /// The console (COM1).
    case console = 4
    /// Two classes the lock validator's own mechanism case takes, in both
    /// orders on purpose (`mechanism_lockInversionIsCaught`).
    case validatorTestFirst = 5
    case validatorTestSecond = 6

    public var name: StaticString {
        switch self {
        case .processSpace: "process address space"
        case .frameAllocator: "frame allocator"
        case .reportChannel: "report channel"
        case .console: "console"
        case .validatorTestFirst: "validator test (first)"
        case .validatorTestSecond: "validator test (second)"
        }
    }
}

/// What the validator found.
public enum LockViolationKind: UInt64, Wire, CaseIterable, Sendable {
    /// `taken` was taken while `held` was held, and elsewhere `held` was
    /// taken while `taken` was held: two CPUs doing both can deadlock.
    case orderInversion = 1
    /// `taken` was taken again by the CPU that holds it: it waits for itself.
    case takenTwice = 2
    /// A lock was released by a CPU that does not hold it.
    case releasedUnheld = 3
    /// A lock was taken with interrupts on in an interrupt handler's
    /// class, or in a handler when its class is never taken in one.
    case takenInInterrupt = 4
}

public struct LockViolationRecord: Wire {
    public var kind: LockViolationKind
    /// The lock being taken (or released).
    public var taken: LockClass
    /// The lock held that it conflicts with (`taken` itself when none other).
    public var held: LockClass
    /// Where `taken` was taken (a return address into the caller).
    public var site: UInt64
    /// Where the conflicting order was first seen, or `held` was taken; 0 when nowhere else.
    public var otherSite: UInt64
    /// The CPU that took it.
    public var cpu: UInt64

    public init(kind: LockViolationKind, taken: LockClass, held: LockClass, site: UInt64, otherSite: UInt64, cpu: UInt64) {
        self.kind = kind; self.taken = taken; self.held = held; self.site = site; self.otherSite = otherSite; self.cpu = cpu
    }
}

#if !GUEST_KERNEL
extension LockViolationRecord: Equatable, Sendable, CustomStringConvertible {
    public var description: String {
        switch kind {
        case .orderInversion:
            return "lock order inversion on CPU \(cpu): \(taken.name) taken while \(held.name) is held, "
                + "where elsewhere \(held.name) was taken while \(taken.name) was held"
        case .takenTwice: return "CPU \(cpu) took \(taken.name) while it held it already: it waits for itself"
        case .releasedUnheld: return "CPU \(cpu) released \(taken.name), which it did not hold"
        case .takenInInterrupt: return "CPU \(cpu) took \(taken.name) in an interrupt handler, which its class is never taken in"
        }
    }
}
#endif
