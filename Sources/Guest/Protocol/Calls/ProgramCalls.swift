#if canImport(MemoryManager)
import MemoryManager
#endif

// Calls that run user programs, each in a process of its own at virtual 0x0.

/// The built-in programs' names, in the kernel's order.
// wire: call 25
public struct ListPrograms: GuestCall, Equatable, Sendable {
    public typealias Reply = [WireBytes]
    public init() {}
}

/// How a program's process ended, and what it cost.
public struct ProgramRun: Wire, Equatable, Sendable {
    public enum Outcome: Wire, Equatable, Sendable {
        case exited(status: UInt64)
        /// Killed by the kernel, at `address` (CR2 for a page fault) and `rip`;
        /// `vector` for `.exception`.
        case faulted(reason: FaultReason, address: UInt64, rip: UInt64, vector: UInt64)
    }

    public var outcome: Outcome
    /// Demand-paging faults resolved while it ran.
    public var reallocations: UInt64
    /// Free frames before the process was built, and after it was torn down.
    public var freeFramesBefore: UInt64
    public var freeFramesAfter: UInt64
    /// int3 traps taken and resumed.
    public var breakpoints: UInt64
    /// TSC cycles the program ran in ring 3 (its traps included), without
    /// building or tearing down its process.
    public var userCycles: UInt64
    /// The thread whose fault ended it (0 when it exited, or had one thread).
    public var faultThread: UInt64

    public init(outcome: Outcome, reallocations: UInt64, freeFramesBefore: UInt64, freeFramesAfter: UInt64,
                breakpoints: UInt64, userCycles: UInt64, faultThread: UInt64 = 0) {
        self.outcome = outcome; self.reallocations = reallocations
        self.freeFramesBefore = freeFramesBefore; self.freeFramesAfter = freeFramesAfter
        self.breakpoints = breakpoints; self.userCycles = userCycles; self.faultThread = faultThread
    }
}

/// Runs built-in program `index` (in `ListPrograms` order); `reportFaults`:
/// send every page-trap decision as a record, not only count them.
// wire: call 26
public struct RunProgram: GuestCall, Equatable, Sendable {
    public typealias Reply = ProgramRun
    public var index: UInt64
    public var reportFaults: Bool
    /// Threads sharing its address space, one a CPU: thread i runs on CPU
    /// i and starts at the entry with RDI = i, RSI = the count, its own
    /// stack. At most the CPUs online (`needsSeveralCPUs` past them).
    // wire: threads in 1...UInt64(GuestCPUs.maximumCount)
    public var threads: UInt64
    public init(index: UInt64, reportFaults: Bool, threads: UInt64 = 1) {
        self.index = index; self.reportFaults = reportFaults; self.threads = threads
    }
}

/// Sets aside `bytes` bytes of guest memory for a program image the host
/// will write. Replies its physical address.
// wire: call 29
public struct ReserveProgramBuffer: GuestCall, Equatable, Sendable {
    public typealias Reply = UInt64
    public var bytes: UInt64
    public init(bytes: UInt64) { self.bytes = bytes }
}

/// Runs the image of `bytes` bytes the host wrote at `physical` (a program
/// buffer, freed afterwards).
// wire: call 30
public struct RunProgramImage: GuestCall, Equatable, Sendable {
    public typealias Reply = ProgramRun
    public var physical: UInt64
    public var bytes: UInt64
    public var reportFaults: Bool
    public init(physical: UInt64, bytes: UInt64, reportFaults: Bool) {
        self.physical = physical; self.bytes = bytes; self.reportFaults = reportFaults
    }
}

/// Runs built-in program `index` with every user page fault skipped instead
/// of decided (the faulting instruction must be 2 bytes long): the empty
/// page-fault round trip, for the benchmark.
// wire: call 31
public struct RunProgramSkippingFaults: GuestCall, Equatable, Sendable {
    public typealias Reply = ProgramRun
    public var index: UInt64
    public init(index: UInt64) { self.index = index }
}
