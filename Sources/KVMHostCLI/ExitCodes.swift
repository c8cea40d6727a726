import ArgumentParser
import Foundation
import GuestImage
import KVMHost
import MachineArguments

/// The exit statuses `kvmhost --help` and docs/kvmhost.md list: 0 to 63 are the
/// guest's own, 64 and up are kvmhost's.
enum ExitCodes {
    static let badArguments: Int32 = 64
    static let badImage: Int32 = 65
    /// kvmhost gdb: no gdb to run.
    static let unavailable: Int32 = 69
    static let outputFailed: Int32 = 74
    static let guestStatusAbove63: Int32 = 120
    static let panic: Int32 = 121
    static let tripleFault: Int32 = 122
    static let exception: Int32 = 123
    static let timeout: Int32 = 124
    static let otherFailure: Int32 = 125
    static let kvmUnavailable: Int32 = 126

    /// Guest statuses kvmhost passes on unchanged.
    static let guestStatuses: ClosedRange<UInt32> = 0...63

    static func code(for failure: GuestFailure) -> Int32 {
        switch failure.kind {
        case .panic, .assertion, .staleTranslation, .lockViolation, .kernelExited(.panic, _), .kernelExited(.assertionFailed, _): return panic
        case .tripleFault: return tripleFault
        case .exception, .nestedException, .kernelExited(.exception, _), .kernelExited(.nestedException, _): return exception
        case .timeout: return timeout
        case .stoppedByUser: return 0
        case .failEntry, .internalError, .unexpectedExit, .systemEvent, .halted, .unexpectedPort, .mmio, .channel,
             .exited, .unexpectedReport, .memoryMapNotTaken, .cpusNotStarted, .missingCPUFeature, .qemuShutdown, .backendEnded,
             .statusCutToSevenBits, .kernelExited(.missingCPUFeature, _), .pageTableViolation, .pageTablesUnchecked:
            return otherFailure
        }
    }

    /// kvmhost's status for the guest's: the same for 0 to 63; any other
    /// (which could be read as one of kvmhost's own) is 120, and the real
    /// value is printed.
    static func code(forGuestStatus status: UInt32) -> Int32 {
        if guestStatuses.contains(status) { return Int32(status) }
        printError("the guest exited with status \(status) (\(hex(status))); kvmhost exits \(guestStatusAbove63) "
                   + "for guest statuses above \(guestStatuses.upperBound)")
        return guestStatusAbove63
    }

    /// Runs `body`, which returns the guest's status, turning every error
    /// into a message on stderr and its exit status. `console` is the
    /// guest's console on stdout, when there is one.
    static func reporting(console: @escaping () -> ConsoleOutput? = { nil }, _ body: () throws -> UInt32) -> Never {
        var status: Int32
        do {
            // Every variable kvmhost reads, checked before anything runs.
            try GuestImage.checkEnvironment()
            try KVMHostEnvironment.check()
            status = code(forGuestStatus: try body())
        } catch let failure as GuestFailure {
            if case .stoppedByUser = failure.kind, let outputFailure = console()?.failure {
                printError("\(outputFailure); the guest was stopped")
                status = outputFailed
            } else if case .stoppedByUser = failure.kind {
                printError("stopped")
                status = 0
            } else {
                // A person at the terminal has just seen the console's last lines.
                let atTerminal = isatty(STDOUT_FILENO) == 1 && OutputStream.shareOneFile
                printError(failure.report(includingConsoleTail: !atTerminal))
                status = code(for: failure)
            }
        } catch let error as EnvironmentError {
            printError(error.isOutput ? "\(error); the guests' coverage profiles cannot be written there" : "\(error)")
            status = error.isOutput ? outputFailed : badArguments
        } catch let error as GuestImageError {
            printError("\(error)")
            switch error {
            case .badVariant, .badReplacement, .replacedAndInstrumented: status = badArguments
            case .unreadable, .replacementUnreadable: status = badImage
            }
        } catch let error as FileAccessError {
            // What kvmhost reads is its input (a kernel, a snapshot); what it writes, its output.
            printError("\(error)")
            status = error.access == .read ? badImage : outputFailed
        } catch let error as DebuggerError {
            if case .portUnavailable = error {
                printError("--gdb: \(error)")
                status = badArguments
            } else {
                printError("\(error)")
                status = otherFailure
            }
        } catch let error as ArgumentError {
            printError("\(error)")
            status = badArguments
        } catch let error as LiveGuest.ConfigurationError {
            printError("\(error)")
            status = badArguments
        } catch let error as MemoryMapError {
            printError("--reserve: \(error)")
            status = badArguments
        } catch let error as CPUFeatureError {
            printError("--cpu: \(error)")
            status = badArguments
        } catch let error as MemoryBackingError {
            printError("--memory-backing: \(error)")
            status = badArguments
        } catch let error as ELFLoadError {
            printError("the kernel image is not loadable: \(error)")
            status = badImage
        } catch let error as SnapshotFileError {
            printError("snapshot file: \(error)")
            status = badImage
        } catch let error as SnapshotError {
            printError("snapshot: \(error)")
            // Another CPU count is an option given, not a damaged file.
            if case .differentCPUCount = error { status = badArguments } else { status = badImage }
        } catch let error as KernelFileError {
            printError("\(error)")
            status = badImage
        } catch let error as KVMError {
            printError("\(error)")
            status = kvmUnavailable
        } catch let error as QEMUMachineError {
            printError("\(error)")
            status = kvmUnavailable
        } catch let error as OutputError {
            printError("\(error)")
            status = outputFailed
        } catch let error as CoverageError {
            printError("--coverage: \(error)")
            // A kernel with no profile, or one whose sections lie, is a wrong image;
            // a profile that cannot be written is output lost.
            status = error.isImageProblem ? badImage : outputFailed
        } catch {
            printError("\(error)")
            status = otherFailure
        }
        if CoverageDirectory.failures > 0, status < badArguments {
            // A profile asked for ($KVMHOST_COVERAGE_DIR) and not written is a failure, not success.
            printError("\(CoverageDirectory.failures) coverage profile(s) could not be written to $\(KVMHostEnvironment.coverageDirectory)")
            status = outputFailed
        }
        if let failure = console()?.failure, status != outputFailed {
            printError("\(failure)")
            status = outputFailed
        }
        Terminal.restore()
        exit(status)
    }

    /// One message on stderr, its guest-chosen parts escaped, on a line of
    /// its own even when the guest's console left one unfinished.
    static func printError(_ message: String) {
        Terminal.restore()
        let startsLine = OutputStream.shareOneFile ? OutputStream.standardOutput.isAtLineStart : true
        let text = (startsLine ? "" : "\n") + "kvmhost: " + escapingControlCharacters(message, keepingNewlines: true) + "\n"
        OutputStream.standardError.writeIgnoringErrors(text)
    }
}

func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
