import GuestProtocol

/// How a user program's process ended, and what it cost.
public struct ProgramRun: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        case exited(status: UInt64)
        /// Killed by the kernel: `reason` is a `FaultReason` raw value.
        case faulted(reason: UInt64, address: UInt64, rip: UInt64, vector: UInt64)
    }

    public var outcome: Outcome
    /// Demand-paging faults resolved while it ran.
    public var reallocations: UInt64
    public var freeFramesBefore: UInt64
    public var freeFramesAfter: UInt64
    public var breakpoints: UInt64
    /// TSC cycles the program ran in ring 3 (its traps included), without
    /// building or tearing down its process.
    public var userCycles: UInt64

    public init(reply: GuestReply) throws {
        let words = reply.values
        guard reply.status == ReplyStatus.ok, words.count >= ProgramRunWord.count else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "runProgram replied status \(reply.status), \(words)")
        }
        if words[ProgramRunWord.outcome] == 0 {
            outcome = .exited(status: words[ProgramRunWord.status])
        } else {
            outcome = .faulted(reason: words[ProgramRunWord.status], address: words[ProgramRunWord.faultAddress],
                               rip: words[ProgramRunWord.faultRip], vector: words[ProgramRunWord.vector])
        }
        reallocations = words[ProgramRunWord.reallocations]
        freeFramesBefore = words[ProgramRunWord.freeFramesBefore]
        freeFramesAfter = words[ProgramRunWord.freeFramesAfter]
        breakpoints = words[ProgramRunWord.breakpoints]
        userCycles = words[ProgramRunWord.userCycles]
    }
}

extension LiveGuest {
    /// The built-in programs, by name, in the guest's order.
    public func programNames(timeout: Duration = LiveGuest.defaultTimeout) throws -> [String] {
        let reply = try execute(.listPrograms, timeout: timeout)
        return String(decoding: reply.text, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Runs a program image the host supplies (an ELF64 linked at 0x0): it is
    /// written into a buffer the guest sets aside, after a bounds check.
    public func runProgram(image: [UInt8], reportFaults: Bool = true,
                           timeout: Duration = LiveGuest.defaultTimeout) throws -> ProgramRun {
        let buffer = try execute(.programBuffer(bytes: UInt64(image.count)), timeout: timeout).values.first ?? noFrame
        guard buffer != noFrame else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "the guest has no room for a \(image.count)-byte image")
        }
        try vm.memory.write(image, at: buffer)
        return try ProgramRun(reply: execute(.runImage(physical: buffer, bytes: UInt64(image.count), reportFaults: reportFaults),
                                             timeout: timeout))
    }

    /// Runs built-in program `name` in a process of its own, to its exit or fault.
    public func runProgram(_ name: String, reportFaults: Bool = true,
                           timeout: Duration = LiveGuest.defaultTimeout) throws -> ProgramRun {
        guard let index = try programNames(timeout: timeout).firstIndex(of: name) else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "no built-in program named \(name)")
        }
        return try ProgramRun(reply: execute(.runProgram(index: UInt64(index), reportFaults: reportFaults), timeout: timeout))
    }
}
