import ArgumentParser
import Foundation
import GuestImage
import GuestProtocol
import KVMHost
import MachineArguments

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the guest and open its kernel monitor on the console (the default).",
        discussion: """
            At a terminal the console is live: keystrokes reach the guest's COM1 and its \
            output appears as it comes. Ctrl-A x quits at once, even while the guest is busy; \
            Ctrl-A g stops the guest for gdb (the command to attach is printed); Ctrl-A s takes a snapshot \
            of the guest and Ctrl-A r rewinds it to that snapshot (kvm); Ctrl-A h lists the escapes. With input from a pipe or file, lines are fed to the \
            monitor one at a time and kvmhost exits once the input ends. The console shows \
            text, newlines, tabs, backspace and colour and cursor sequences; other control \
            sequences are shown as ^[ and friends instead of acting on the terminal.
            """)

    @OptionGroup var machine: MachineOptions

    @Flag(name: .long, help: "Print every port access the guest makes, with its values, to stderr.")
    var tracePorts = false

    @Flag(name: .long, help: "Boot, report ready and shut down, without the monitor.")
    var noMonitor = false

    @Option(name: .long, help: ArgumentHelp("Serve gdb on 127.0.0.1:PORT (0: a free port); the run then has no deadline.",
                                           valueName: "port"))
    var gdb: UInt16?

    @Flag(name: .long, help: "With --gdb: stop before the guest's first instruction until gdb attaches and continues.")
    var gdbWait = false

    @Option(name: .long, help: ArgumentHelp("Boot the kernel built for coverage (or --kernel, which must be) and write "
                                            + "the raw profile of the whole run to FILE when the guest stops, however it stops "
                                            + "(for llvm-profdata; `kvmhost kernel-path --coverage` is the binary for llvm-cov).",
                                            valueName: "file.profraw"))
    var coverage: String?

    @Option(name: .long, help: ArgumentHelp("After the ready report, save a snapshot of the guest to FILE, then go on.",
                                            valueName: "file"))
    var saveSnapshot: String?

    @Option(name: .long, help: ArgumentHelp("Go on from the snapshot in FILE (saved with --save-snapshot, of the same kernel) "
                                            + "instead of booting; guest memory is the snapshot's size.", valueName: "file"))
    var fromSnapshot: String?

    func validate() throws {
        if machine.accel == .tcg && (saveSnapshot != nil || fromSnapshot != nil) {
            throw ValidationError("snapshots need --accel kvm: QEMU holds the vCPU's state under tcg")
        }
        if fromSnapshot != nil && coverage != nil { throw ValidationError("--from-snapshot cannot take --coverage: the counters would start mid-run") }
        // A guest from a snapshot is the snapshot's: its memory and its map come from the file.
        if fromSnapshot != nil && machine.memory != nil {
            throw ValidationError("--from-snapshot cannot take --memory: guest memory is the snapshot's size")
        }
        if fromSnapshot != nil && !machine.reserve.isEmpty {
            throw ValidationError("--from-snapshot cannot take --reserve: the memory map is the snapshot's")
        }
        if fromSnapshot != nil && saveSnapshot != nil {
            throw ValidationError("--from-snapshot goes on after the ready report; --save-snapshot saves at it: save from the session with Ctrl-A s instead")
        }
        if fromSnapshot != nil && noMonitor { throw ValidationError("--from-snapshot goes on after the ready report; --no-monitor would do nothing") }
        if gdbWait && gdb == nil { throw ValidationError("--gdb-wait needs --gdb PORT") }
        // Under tcg QEMU's own devices take the ports, and the stub drives a KVM vCPU.
        if machine.accel == .tcg && tracePorts { throw ValidationError("--trace-ports needs --accel kvm: under tcg QEMU answers the ports") }
        if machine.accel == .tcg && gdb != nil { throw ValidationError("--gdb needs --accel kvm: the gdb stub debugs a KVM vCPU") }
    }

    func run() throws {
        var console: ConsoleOutput?
        ExitCodes.reporting(console: { console }) {
            let interactive = isatty(STDIN_FILENO) == 1
            var configuration = try machine.configuration()
            let timeout = try machine.watchdog(interactive: interactive)
            let guest: LiveGuest
            if let fromSnapshot {
                let snapshot = try SnapshotFile.read(from: fromSnapshot)
                // The CPUs are the snapshot's, as its memory is (KVMHOST_SMP does
                // not apply); an --smp that names another count is refused.
                if machine.smp != nil && configuration.cpuCount != snapshot.cpuCount {
                    throw SnapshotError.differentCPUCount(snapshot: snapshot.cpuCount, guest: configuration.cpuCount)
                }
                configuration.cpuCount = snapshot.cpuCount
                guest = try KVMGuest(snapshot: snapshot, kernel: machine.kernelImage(memorySize: snapshot.memorySize), configuration: configuration)
            } else {
                let kernel = try machine.kernelImage(memorySize: configuration.memorySize, coverage: coverage != nil)
                guest = configuration.backend == .kvm ? try KVMGuest(kernel: kernel, configuration: configuration)
                    : try LiveGuest(kernel: kernel, configuration: configuration)
            }
            let kvmGuest = guest as? KVMGuest
            if coverage != nil {
                // Sections that lie refuse the profile, not the boot: without --coverage such a kernel runs.
                guard let sections = guest.profileSections else { throw CoverageError.notInstrumented }
                try sections.check()
            }
            let output = ConsoleOutput(stopping: guest.stopHandle)
            console = output
            guest.serial.output = { bytes in output.write(bytes) }
            if tracePorts, let kvmGuest {
                kvmGuest.portTrace = { access in OutputStream.standardError.writeIgnoringErrors(PortTrace.line(access)) }
            }
            let kernelPath = machine.kernel ?? (coverage != nil ? GuestImage.coverageKernelURL : GuestImage.kernelURL).path
            if let gdb, let kvmGuest {
                let port = try kvmGuest.attachDebugger(port: gdb, waitForDebugger: gdbWait)
                OutputStream.standardError.writeIgnoringErrors("kvmhost: gdb stub on 127.0.0.1:\(port): "
                    + GDBHelpers.attachCommand(port: port, kernelPath: kernelPath) + "\n")
            }
            if interactive {
                Terminal.enterRawMode()
                let debugger = kvmGuest?.debugger
                let input = TerminalInput(stopping: guest.stopHandle, snapshots: kvmGuest?.snapshotRequests) {
                    // Ctrl-A g: the stub on a free port, the guest stopped until gdb continues or detaches.
                    do {
                        guard let debugger else { throw DebuggerError.needsKVM }
                        let port = try debugger.listen(port: 0)
                        OutputStream.standardError.writeIgnoringErrors("\r\nkvmhost: the guest is stopped for gdb: "
                            + GDBHelpers.attachCommand(port: port, kernelPath: kernelPath) + "\r\n")
                        debugger.requestPause()
                    } catch {
                        OutputStream.standardError.writeIgnoringErrors("\r\nkvmhost: \(error)\r\n")
                    }
                }
                guest.consoleInput = input
                // After each of kvmhost's messages the monitor redraws its prompt and line.
                kvmGuest?.snapshotReport = { line in
                    OutputStream.standardError.writeIgnoringErrors("\r\nkvmhost: \(line)\r\n")
                    input.redrawGuestLine()
                }
            } else {
                guest.consoleInput = PipedInput()
            }
            defer { Terminal.restore() }
            if let saveSnapshot, let kvmGuest {
                _ = try guest.boot(timeout: timeout)
                try SnapshotFile.write(try kvmGuest.snapshot(), to: saveSnapshot)
                OutputStream.standardError.writeIgnoringErrors("kvmhost: snapshot saved to \(saveSnapshot)\(interactive ? "\r" : "")\n")
            }
            // A guest of our own reports ready and takes commands; any other
            // kernel simply runs until it stops.
            let calls: [any GuestCall] = noMonitor ? [] : [RunMonitor()]
            guard let coverage else { return try guest.runToExit(calls: calls, timeout: timeout) }
            // The profile is written however the run ends: a failing guest's
            // coverage is the one most worth having. The guest's verdict stays.
            let status: UInt32
            do {
                status = try guest.runToExit(calls: calls, timeout: timeout)
            } catch {
                do { try guest.writeCoverageProfile(to: coverage) } catch { ExitCodes.printError("\(error)") }
                throw error
            }
            try guest.writeCoverageProfile(to: coverage)
            return status
        }
    }
}
