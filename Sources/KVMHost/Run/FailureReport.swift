extension LiveGuest {
    /// The failure of `kind`, with what the host can say about the guest
    /// as it failed: the vCPU's registers, the console's last lines, the
    /// walk of a faulting address and the failing context's backtrace.
    /// The machine hears of it first (a debugger may want a look).
    func failure(_ kind: GuestFailure.Kind) -> GuestFailure {
        var walk: PageWalk?
        var walkProblem: String?
        if case .exception(let report) = kind, report.vector == 14 {
            do { walk = try PageWalker(memory: memory).walk(cr3: report.cr3, virtual: report.cr2) } catch { walkProblem = "\(error)" }
        }
        let cpu = machine.cpuState()
        // A stop on request or at the deadline says nothing the others could explain.
        let others = configuration.cpuCount > 1 && kind != .stoppedByUser ? machine.otherCPUStates() : []
        let failure = GuestFailure(kind: kind, cpu: cpu, consoleTail: serial.lastLines(20), walk: walk, walkProblem: walkProblem,
                                   backtrace: backtrace(of: kind, cpu: cpu), symbols: symbols, otherCPUs: others)
        machine.runFailed(failure)
        return failure
    }

    /// The failing context's stack: the trap frame's for an exception, the
    /// vCPU's otherwise, once the guest runs in long mode with paging.
    private func backtrace(of kind: GuestFailure.Kind, cpu: CPUState?) -> Backtrace? {
        if case .exception(let report) = kind {
            return Backtrace.walk(memory: memory, cr3: report.cr3, rip: report.rip, rbp: report.registers.rbp)
        }
        guard let cpu, cpu.cr0 & (1 << 31) != 0, cpu.efer & (1 << 10) != 0 else { return nil }
        let stack = Backtrace.walk(memory: memory, cr3: cpu.cr3, rip: cpu.rip, rbp: cpu.rbp)
        switch kind {
        case .panic, .assertion, .staleTranslation, .lockViolation:
            // The vCPU is inside the channel's sending code (at the report
            // port's `out` on kvm, in the wait for COM2's acknowledgement on
            // tcg), perhaps called from the panic function: the stack of
            // interest starts in the code that panicked or asserted.
            let table = symbols.table
            return stack.startingAfter { address in
                guard let function = table.function(containing: address) else { return false }
                return Self.reportingSymbols.contains { function.symbol.name.contains($0) }
            }
        default:
            return stack
        }
    }

    /// What the mangled names of the kernel's reporting functions contain:
    /// `enum ReportChannel`, its COM2 transport `enum SerialLink` (where a
    /// tcg guest spins until the record is acknowledged), `kernelPanic` and
    /// `enum LockValidator`, in module GuestKernel.
    static let reportingSymbols = ["11GuestKernel13ReportChannel", "11GuestKernel10SerialLink", "11GuestKernel11kernelPanic",
                                   "11GuestKernel13LockValidator"]
}
