import GuestProtocol

/// What a machine's stop means for the run: the one place that decides,
/// for KVM and QEMU alike, for every caller (calls, `runToExit`, the CLI,
/// snapshots, the debugger).
enum Verdict: Equatable {
    /// Run again: the machine was taken out for the host's own business.
    case goOn
    /// Read the record at this address.
    case record(address: UInt32)
    /// Wait for console input, then run again.
    case waitForInput
    /// The guest ended with its own status.
    case exited(status: UInt32)
    case failed(GuestFailure.Kind)

    /// `consoleLines` gives the guest's last console lines: where the kernel
    /// says why it ended when it could not send a record (asked for only
    /// then: they cost a pass over the transcript).
    static func of(_ stop: MachineStop, deadline: Deadline, consoleLines: () -> [String]) -> Verdict {
        switch stop {
        case .record(let address): return .record(address: address)
        case .wantsInput: return .waitForInput
        case .wantsAttention: return .goOn
        case .exited(let status): return ofExit(status: status, consoleLines: consoleLines())
        case .tripleFault: return .failed(.tripleFault)
        case .haltedForGood: return .failed(.halted)
        case .deadlinePassed: return .failed(.timeout(deadline.timeout))
        case .stopRequested: return .failed(.stoppedByUser)
        case .backendEnded(let termination, let message):
            // isa-debug-exit ends QEMU with `status << 1 | 1`, and a process
            // status keeps 8 bits: the guest's status is known only mod 128.
            // An exit frame before it carries the whole status; without one,
            // no value can be trusted (0, 128 and 256 all end as 1), and
            // QEMU's own failures end with odd statuses too.
            if case .exited(let code) = termination, code & 1 == 1, message.isEmpty {
                return .failed(.statusCutToSevenBits(lowBits: UInt32(code >> 1)))
            }
            return .failed(.backendEnded(termination, message: message))
        case .backendShutdown(let reason): return .failed(.qemuShutdown(reason: reason))
        case .unclaimedPort(let port, let direction, let size): return .failed(.unexpectedPort(port: port, direction: direction, size: size))
        case .mmio(let access): return .failed(.mmio(access))
        case .channel(let error): return .failed(.channel(error))
        case .failEntry(let reason): return .failed(.failEntry(hardwareReason: reason))
        case .internalError(let suberror): return .failed(.internalError(suberror: suberror))
        case .systemEvent(let type): return .failed(.systemEvent(type: type))
        case .unknownExit(let reason): return .failed(.unexpectedExit(reason: reason))
        }
    }

    /// A status is the guest's own unless it is one the kernel ends with
    /// when it fails (`KernelExit`): those are failures whatever sent them,
    /// with the kernel's last console line as the reason, since a kernel
    /// that exits so without a report record could not send one.
    static func ofExit(status: UInt32, consoleLines: [String]) -> Verdict {
        guard let kernelExit = KernelExit(rawValue: status) else { return .exited(status: status) }
        let lastLine = consoleLines.last { !$0.allSatisfy(\.isWhitespace) } ?? ""
        switch kernelExit {
        case .nestedException: return .failed(.nestedException)
        case .missingCPUFeature:
            // The entry's one line says which, before any record could.
            return .failed(.missingCPUFeature(consoleLines.last { $0.hasPrefix("guest kernel: the CPU has no") } ?? lastLine))
        case .assertionFailed, .exception, .panic:
            return .failed(.kernelExited(kernelExit, lastConsoleLine: lastLine))
        }
    }
}
