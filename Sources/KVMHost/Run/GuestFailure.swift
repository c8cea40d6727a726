/// A guest run that did not go as the host asked: what happened, the vCPU's
/// registers at that moment, and the last lines of the guest's console.
public struct GuestFailure: Error, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case exception(ExceptionRecord)
        case assertion(AssertionReport)
        case panic(PanicReport)
        /// The kernel's TLB checker: a page-table write needed an
        /// invalidation the kernel did not make before the translation could
        /// be used. The backtrace is where the kernel noticed; the record's
        /// return addresses say where the entry was written.
        case staleTranslation(StaleTranslationRecord)
        /// The kernel's lock validator: a lock taken in an order, or a
        /// state, that can deadlock. `symbolizedLockSites` names both places.
        case lockViolation(LockViolationRecord)
        /// KVM_EXIT_SHUTDOWN (or QMP's SHUTDOWN for a reset under
        /// -no-reboot): the guest triple faulted.
        case tripleFault
        /// QEMU (the tcg backend) shut the machine down for another reason (QMP's).
        case qemuShutdown(reason: String)
        /// The backend (QEMU) went away by itself, with no exit from the
        /// guest: how it ended, and its last words on stderr.
        case backendEnded(ChildTermination, message: String)
        /// The guest ended QEMU through isa-debug-exit without sending its
        /// whole status first (`LinkFrame.exit`): QEMU keeps 7 bits of it,
        /// so 0, 128 and 256 look alike and no value can be trusted.
        case statusCutToSevenBits(lowBits: UInt32)
        /// The guest exited with a status the kernel ends with when it fails
        /// (`KernelExit`) and no report record before it: the kernel's last
        /// console line says why.
        case kernelExited(KernelExit, lastConsoleLine: String)
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
        /// The CPU lacks a feature the kernel needs (exit status 6): the
        /// kernel's line that names it (CPUID leaf, register and bit).
        case missingCPUFeature(String)
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
        /// The kernel started fewer CPUs than the configuration has; its
        /// console line (if it printed one) says why.
        case cpusNotStarted(asked: Int, started: UInt64, lastConsoleLine: String)
        /// The host's page-table check after a call found an invariant broken
        /// (the first violation it met).
        case pageTableViolation(PageTableViolation)
        /// The host's page-table check could not read what the kernel published.
        case pageTablesUnchecked(PageTableCheckError)
    }

    public let kind: Kind
    public let cpu: CPUState?
    public let consoleTail: [String]
    /// For a page fault: the host's walk of the faulting address.
    public let walk: PageWalk?
    /// Why the host could not walk the faulting address, when it could not
    /// (a page table outside guest memory, say): said in the report, not dropped.
    public let walkProblem: String?
    /// The failing context's call stack (the trap frame's for an exception,
    /// the vCPU's otherwise), when the guest was in long mode with paging.
    public let backtrace: Backtrace?
    /// The kernel's symbols, to name the backtrace's functions and lines.
    public let symbols: GuestSymbols?
    /// With several CPUs: where each other CPU was when the run failed. On
    /// kvm `cpu` is the vCPU the stop came from and these are the rest; on
    /// tcg `cpu` is CPU 0 (QEMU's monitor's) and these are CPUs 1 and up.
    public let otherCPUs: [OtherCPU]

    public init(kind: Kind, cpu: CPUState?, consoleTail: [String], walk: PageWalk? = nil, walkProblem: String? = nil,
                backtrace: Backtrace? = nil, symbols: GuestSymbols? = nil, otherCPUs: [OtherCPU] = []) {
        self.kind = kind
        self.cpu = cpu
        self.consoleTail = consoleTail
        self.walk = walk
        self.otherCPUs = otherCPUs
        self.walkProblem = walkProblem
        self.backtrace = backtrace
        self.symbols = symbols
    }

    /// The backtrace's frames with function, offset and file:line where the
    /// kernel's symbols have them; `problem` says why lines are missing.
    /// Callers' lines are looked up at the call (the return address less one).
    public func symbolizedBacktrace() -> (frames: [GuestSymbols.Location], problem: SymbolizationProblem?)? {
        guard let backtrace else { return nil }
        guard let symbols else {
            return (backtrace.addresses.map { GuestSymbols.Location(address: $0, function: nil, offset: 0, line: nil) }, nil)
        }
        let lineAddresses = backtrace.addresses.enumerated().map {
            $0.offset == 0 && !backtrace.startsAtReturnAddress ? $0.element : $0.element &- 1
        }
        let (frames, problem) = symbols.locate(backtrace.addresses, lineAddresses: lineAddresses)
        return (frames, problem)
    }

    /// Functions whose callers a report names: the panic and assertion paths.
    static let reportingFunctions = ["kernelPanic", "guestAssert"]

    /// Each other CPU's RIP, with its function and file:line where the symbols have them.
    private var otherCPUsText: String {
        let addresses = otherCPUs.map(\.state.rip)
        let locations = symbols.map { $0.locate(addresses, lineAddresses: addresses).locations }
            ?? addresses.map { GuestSymbols.Location(address: $0, function: nil, offset: 0, line: nil) }
        return (["the other CPUs, when it failed:"] + zip(otherCPUs, locations).map { "  CPU \($0.index) at \($1)" })
            .joined(separator: "\n")
    }

    /// For a stale translation: where the entry was written, innermost
    /// first, with function and file:line where the symbols have them.
    public func symbolizedWriter() -> [GuestSymbols.Location]? {
        guard case .staleTranslation(let report) = kind else { return nil }
        let addresses = report.writtenFrom.values
        guard let symbols else { return addresses.map { GuestSymbols.Location(address: $0, function: nil, offset: 0, line: nil) } }
        return symbols.locate(addresses, lineAddresses: addresses.map { $0 &- 1 }).locations
    }

    /// For a lock violation: where the lock was taken, and where the order
    /// it breaks was first seen (or the lock it conflicts with was taken),
    /// with function and file:line where the symbols have them.
    public func symbolizedLockSites() -> (taken: GuestSymbols.Location, other: GuestSymbols.Location?)? {
        guard case .lockViolation(let report) = kind else { return nil }
        let addresses = [report.site] + (report.otherSite == 0 ? [] : [report.otherSite])
        let locations = symbols.map { $0.locate(addresses, lineAddresses: addresses.map { $0 &- 1 }).locations }
            ?? addresses.map { GuestSymbols.Location(address: $0, function: nil, offset: 0, line: nil) }
        return (locations[0], locations.count > 1 ? locations[1] : nil)
    }

    private var lockSitesText: String? {
        guard let sites = symbolizedLockSites(), case .lockViolation(let report) = kind else { return nil }
        var lines = ["\(report.taken.name) taken at \(sites.taken)"]
        if let other = sites.other {
            switch report.kind {
            case .orderInversion: lines.append("the other order (\(report.taken.name) held, \(report.held.name) taken) first at \(other)")
            case .takenTwice: lines.append("\(report.held.name) first taken at \(other)")
            case .releasedUnheld, .takenInInterrupt: lines.append("and at \(other)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private var writerText: String? {
        guard let frames = symbolizedWriter() else { return nil }
        return (["the entry was written from:"] + frames.enumerated().map { "  #\($0.offset) \($0.element)" })
            .joined(separator: "\n")
    }

    private var symbolizedText: String? {
        guard let (frames, problem) = symbolizedBacktrace(), let first = frames.first else { return nil }
        var lines = ["at \(first)"]
        lines.append("backtrace (RBP chain, \(frames.count) frame\(frames.count == 1 ? "" : "s"), ended at \(backtrace!.end)):")
        for (index, frame) in frames.enumerated() { lines.append("  #\(index) \(frame)") }
        if let last = frames.lastIndex(where: { frame in Self.reportingFunctions.contains { frame.function?.contains($0) == true } }),
           last + 1 < frames.count, let name = frames[last].function {
            lines.append("\(name.prefix { $0 != "(" }) was called from #\(last + 1) \(frames[last + 1])")
        }
        if let problem { lines.append("(no file:line: \(problem); functions from the symbol table)") }
        return lines.joined(separator: "\n")
    }

    /// The whole report; guest-chosen text in it has its control characters escaped.
    public var description: String { report(includingConsoleTail: true) }

    /// The report, with or without the console's last lines (a person at
    /// the terminal has just seen them). An exception shows the faulting
    /// context's registers from the trap frame; the vCPU's own registers,
    /// taken when the report arrived, are labelled as such.
    public func report(includingConsoleTail: Bool) -> String {
        var text = "guest failure: \(escapingControlCharacters(summary))"
        if let writerText { text += "\n" + escapingControlCharacters(writerText, keepingNewlines: true) }
        if let lockSitesText { text += "\n" + escapingControlCharacters(lockSitesText, keepingNewlines: true) }
        if let symbolizedText { text += "\n" + escapingControlCharacters(symbolizedText, keepingNewlines: true) }
        if case .exception(let exception) = kind {
            text += "\nfaulting context (trap frame):\n\(exception.faultingContext)"
            if let cpu { text += "\nvCPU when the report arrived (the kernel's trap handler):\n\(cpu)" }
        } else if let cpu {
            text += "\n\(cpu)"
        }
        if !otherCPUs.isEmpty { text += "\n" + escapingControlCharacters(otherCPUsText, keepingNewlines: true) }
        if let walk { text += "\n\(walk)" }
        if let walkProblem { text += "\nthe host could not walk the faulting address: \(walkProblem)" }
        if case .pageTableViolation(let violation) = kind { text += "\n" + violation.mappings.map(\.description).joined(separator: "\n") }
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
        case .staleTranslation(let report): return report.description
        case .lockViolation(let report): return report.description
        case .tripleFault: return "triple fault (KVM_EXIT_SHUTDOWN, or QEMU's guest-reset)"
        case .qemuShutdown(let reason): return "QEMU shut the machine down (\(escapingControlCharacters(reason)))"
        case .backendEnded(let termination, let message):
            return "QEMU \(termination) while the guest ran, with no exit from the guest"
                + (message.isEmpty ? "" : "; it said: \(escapingControlCharacters(message))")
        case .statusCutToSevenBits(let low):
            return "the guest ended QEMU through isa-debug-exit without sending its whole status on the serial link first "
                + "(LinkFrame.exit): QEMU keeps 7 bits (\(hex(UInt64(low)))), so the status is unknown"
        case .kernelExited(let exit, let line):
            return "\(exit.meaning) (exit status \(exit.rawValue), with no report)"
                + (line.isEmpty ? "" : ": \(escapingControlCharacters(line))")
        case .timeout(let limit): return "no answer within \(limit): the guest was stopped by the watchdog"
        case .failEntry(let reason): return "VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason \(hex(reason))"
        case .internalError(let suberror): return "KVM internal error (KVM_EXIT_INTERNAL_ERROR), suberror \(suberror)"
        case .unexpectedExit(let reason): return "unexpected KVM exit reason \(reason)"
        case .systemEvent(let type): return "system event \(type) (reset or shutdown request)"
        case .halted: return "the guest halted and nothing can wake it"
        case .stoppedByUser: return "stopped on request (Ctrl-A x at the console, or the stop handle)"
        case .nestedException: return "the kernel took an exception inside its exception handler (exit status 5)"
        case .missingCPUFeature(let line):
            return "the CPU lacks a feature the kernel needs: "
                + (line.isEmpty ? "(exit status 6; no console line names it)" : escapingControlCharacters(line))
        case .unexpectedPort(let port, let direction, let size):
            return "\(direction == .input ? "read from" : "write to") port \(hex(UInt64(port))) (\(size) bytes), which no device claims"
        case .mmio(let access):
            return "MMIO \(access.isWrite ? "write to" : "read from") \(hex(access.address)) (\(access.length) bytes): no device is there"
        case .channel(let error): return "report channel: \(error)"
        case .exited(let status): return "the guest exited with status \(status)"
        case .unexpectedReport(let what): return "unexpected report: \(what)"
        case .cpusNotStarted(let asked, let started, let line):
            return "the kernel started \(started) of the \(asked) CPUs asked for"
                + (line.isEmpty ? "" : ": \(escapingControlCharacters(line))")
        case .memoryMapNotTaken(let dropped):
            return "the kernel dropped \(dropped) range(s) of its memory map that its frame allocator cannot record"
        case .pageTableViolation(let violation): return violation.summary
        case .pageTablesUnchecked(let error): return "page-table check: \(error)"
        }
    }
}
