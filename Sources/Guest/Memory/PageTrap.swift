// The page trap's decision, as the design notes put it: for every page fault,
// reallocate (the address was allocated but is not backed yet: demand
// paging), fault the process (the address was never part of it, or the
// access is not allowed), or panic (the kernel itself faulted). Pure logic:
// the kernel carries the decision out.

public enum FaultReason: UInt64, Sendable {
    case notAllocated = 1
    case writeToReadOnly = 2
    case executeNoExecute = 3
    case kernelAddress = 4
    case guardPage = 5
    case outOfMemory = 6
    case reservedBit = 7
    /// A CPU exception other than a page fault (the vector goes with it).
    case exception = 8
    case badSystemCall = 9
}

public enum PageTrapDecision: Equatable, Sendable {
    /// Take a frame, zero it unless known zero, map it with these flags, resume.
    case reallocate(flags: PageTableFlags)
    case faultProcess(FaultReason)
    case panic
}

public enum PageTrap {
    /// Decides what a page fault at `address` with `errorCode` means.
    /// `userLimit`: where user space ends (the kernel region begins).
    public static func decide(address: UInt64, errorCode: UInt64, space: borrowing MemorySpace,
                              userLimit: UInt64) -> PageTrapDecision {
        guard errorCode & PageFaultError.user != 0 else { return .panic }
        if errorCode & PageFaultError.reservedBit != 0 { return .faultProcess(.reservedBit) }
        if address >= userLimit { return .faultProcess(.kernelAddress) }
        let write = errorCode & PageFaultError.write != 0
        let fetch = errorCode & PageFaultError.instructionFetch != 0
        if errorCode & PageFaultError.protection != 0 {
            // The page is mapped; the access is what is not allowed.
            return .faultProcess(write ? .writeToReadOnly : fetch ? .executeNoExecute : .notAllocated)
        }
        guard let reservation = space.reservation(containing: address) else { return .faultProcess(.notAllocated) }
        switch reservation.backing {
        case .guardPage:
            return .faultProcess(.guardPage)
        case .eager, .lazy:
            if write && !reservation.flags.contains(.writable) { return .faultProcess(.writeToReadOnly) }
            if fetch && reservation.flags.contains(.noExecute) { return .faultProcess(.executeNoExecute) }
            return .reallocate(flags: reservation.flags)
        }
    }
}
