/// A guest run that did not go as the host asked: what happened, the vCPU's
/// registers at that moment, and the last lines of the guest's console.
public struct GuestFailure: Error, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case exception(ExceptionReport)
        case assertion(AssertionReport)
        case panic(PanicReport)
        /// KVM_EXIT_SHUTDOWN: the guest triple faulted.
        case tripleFault
        /// The deadline passed with the guest still running.
        case timeout(Duration)
        case failEntry(hardwareReason: UInt64)
        case internalError(suberror: UInt32)
        case unexpectedExit(reason: UInt32)
        case systemEvent(type: UInt64)
        /// The guest halted with interrupts off and nothing to wake it.
        case halted
        /// The kernel took an exception while handling one (exit status 5).
        case nestedException
        /// The user stopped the guest from the console.
        case stoppedByUser
        case unexpectedPort(port: UInt16, direction: PortDirection, size: Int)
        case mmio(MMIOAccess)
        case channel(ChannelError)
        /// The guest exited while the host still expected something of it.
        case exited(status: UInt32)
        /// The guest sent a record the host did not expect at this point.
        case unexpectedReport(String)
        /// The kernel could not record this many ranges of its memory map
        /// (its ready report says so): it would run with memory missing.
        case memoryMapNotTaken(droppedRanges: UInt64)
    }

    public let kind: Kind
    public let cpu: CPUState?
    public let consoleTail: [String]
    /// For a page fault: the host's walk of the faulting address.
    public let walk: PageWalk?

    public init(kind: Kind, cpu: CPUState?, consoleTail: [String], walk: PageWalk? = nil) {
        self.kind = kind
        self.cpu = cpu
        self.consoleTail = consoleTail
        self.walk = walk
    }

    /// The whole report; guest-chosen text in it has its control characters escaped.
    public var description: String { report(includingConsoleTail: true) }

    /// The report, with or without the console's last lines (a person at
    /// the terminal has just seen them). An exception shows the faulting
    /// context's registers from the trap frame; the vCPU's own registers,
    /// taken when the report arrived, are labelled as such.
    public func report(includingConsoleTail: Bool) -> String {
        var text = "guest failure: \(escapingControlCharacters(summary))"
        if case .exception(let exception) = kind {
            text += "\nfaulting context (trap frame):\n\(exception.faultingContext)"
            if let cpu { text += "\nvCPU when the report arrived (the kernel's trap handler):\n\(cpu)" }
        } else if let cpu {
            text += "\n\(cpu)"
        }
        if let walk { text += "\n\(walk)" }
        if includingConsoleTail && !consoleTail.isEmpty {
            text += "\nlast console lines:\n" + consoleTail.map { "  | \(escapingControlCharacters($0))" }.joined(separator: "\n")
        }
        return text
    }

    public var summary: String {
        switch kind {
        case .exception(let report): return "unhandled exception \(report)"
        case .assertion(let report): return report.description
        case .panic(let report): return report.description
        case .tripleFault: return "triple fault (KVM_EXIT_SHUTDOWN)"
        case .timeout(let limit): return "no answer within \(limit): the guest was stopped by the watchdog"
        case .failEntry(let reason): return "VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason \(hex(reason))"
        case .internalError(let suberror): return "KVM internal error (KVM_EXIT_INTERNAL_ERROR), suberror \(suberror)"
        case .unexpectedExit(let reason): return "unexpected KVM exit reason \(reason)"
        case .systemEvent(let type): return "system event \(type) (reset or shutdown request)"
        case .halted: return "the guest halted and nothing can wake it"
        case .stoppedByUser: return "stopped on request (Ctrl-A x at the console, or the stop handle)"
        case .nestedException: return "the kernel took an exception inside its exception handler (exit status 5)"
        case .unexpectedPort(let port, let direction, let size):
            return "\(direction == .input ? "read from" : "write to") port \(hex(UInt64(port))) (\(size) bytes), which no device claims"
        case .mmio(let access):
            return "MMIO \(access.isWrite ? "write to" : "read from") \(hex(access.address)) (\(access.length) bytes): no device is there"
        case .channel(let error): return "report channel: \(error)"
        case .exited(let status): return "the guest exited with status \(status)"
        case .unexpectedReport(let what): return "unexpected report: \(what)"
        case .memoryMapNotTaken(let dropped):
            return "the kernel dropped \(dropped) range(s) of its memory map that its frame allocator cannot record"
        }
    }
}
