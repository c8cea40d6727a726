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

    /// Every exit status and what it means, for `kvmhost --help`
    /// (docs/kvmhost.md has the same statuses, with more words; a test holds them equal).
    static let meanings: [(status: String, meaning: String)] = [
        ("0-63", "the guest's own status, when it stops by itself (0 also after `quit` in the monitor, at the end of piped input, "
                 + "or after Ctrl-A x)"),
        ("\(badArguments)", "bad arguments (size, range, timeout, option, a --gdb port in use, a KVMHOST_* variable's value)"),
        ("\(badImage)", "bad kernel image or snapshot (missing, unreadable, not a regular file, too large, malformed)"),
        ("\(unavailable)", "kvmhost gdb: gdb cannot be run (not on PATH, and KVMHOST_GDB unset)"),
        ("\(outputFailed)", "kvmhost could not write the guest's console or its output (stdout closed or full, a snapshot or "
                         + "profile file, KVMHOST_COVERAGE_DIR)"),
        ("\(guestStatusAbove63)", "the guest exited with a status above 63 (the real value is printed on stderr)"),
        ("\(panic)", "kernel panic, failed guest assertion, stale translation (TLB checker) or lock-order violation (lock validator)"),
        ("\(tripleFault)", "triple fault"),
        ("\(exception)", "unhandled CPU exception in the kernel"),
        ("\(timeout)", "timeout: the watchdog stopped the guest (--timeout covers the whole run)"),
        ("\(otherFailure)", "other guest failures (unknown port, MMIO, channel garbage, an address space too large to walk, a CPU "
                         + "without a feature the kernel needs, QEMU that ended by itself, a status QEMU cut to 7 bits)"),
        ("\(kvmUnavailable)", "KVM cannot be used here (kvmhost --accel tcg runs the guest on QEMU TCG instead)"),
    ]

    /// The list, each meaning wrapped under itself within 78 columns (the
    /// help's own wrapping would start continuation lines at column 0).
    static var helpText: String {
        "Exit status:\n" + meanings.map { row in
            var lines: [String] = []
            var line = String(repeating: " ", count: max(0, 6 - row.status.count)) + row.status + " "
            for word in row.meaning.split(separator: " ") {
                if line.count + 1 + word.count > 78 {
                    lines.append(line)
                    line = String(repeating: " ", count: 7)
                }
                line += " " + word
            }
            return (lines + [line]).joined(separator: "\n")
        }.joined(separator: "\n")
    }

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
            switch error {
            case .deviceMissing, .permissionDenied, .openFailed, .notKVMDevice:
                printError("\(error) Without KVM, --accel tcg runs the guest on QEMU TCG.")
            default:
                printError("\(error)")
            }
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
