import ArgumentParser
import Foundation
import GuestProtocol
import KVMHost

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the guest and open its kernel monitor on the console (the default).",
        discussion: """
            At a terminal the console is live: keystrokes reach the guest's COM1 and its \
            output appears as it comes. Ctrl-A x quits at once, even while the guest is busy; \
            Ctrl-A h lists the escapes. With input from a pipe or file, lines are fed to the \
            monitor one at a time and kvmhost exits once the input ends. The console shows \
            text, newlines, tabs, backspace and colour and cursor sequences; other control \
            sequences are shown as ^[ and friends instead of acting on the terminal.
            """)

    @OptionGroup var machine: MachineOptions

    @Flag(name: .long, help: "Print every port access the guest makes, with its values, to stderr.")
    var tracePorts = false

    @Flag(name: .long, help: "Boot, report ready and shut down, without the monitor.")
    var noMonitor = false

    func run() throws {
        var console: ConsoleOutput?
        ExitCodes.reporting(console: { console }) {
            let interactive = isatty(STDIN_FILENO) == 1
            let configuration = try machine.configuration()
            let timeout = try machine.watchdog(interactive: interactive)
            let guest = try LiveGuest(kernel: machine.kernelImage(memorySize: configuration.memorySize), configuration: configuration)
            let output = ConsoleOutput(stopping: guest.stopHandle)
            console = output
            guest.serial.output = { bytes in output.write(bytes) }
            if tracePorts {
                guest.portTrace = { access in OutputStream.standardError.writeIgnoringErrors(PortTrace.line(access)) }
            }
            if interactive {
                Terminal.enterRawMode()
                guest.consoleInput = TerminalInput(stopping: guest.stopHandle)
            } else {
                guest.consoleInput = PipedInput()
            }
            defer { Terminal.restore() }
            // A guest of our own reports ready and takes commands; any other
            // kernel simply runs until it stops.
            let commands: [GuestCommand] = noMonitor ? [] : [.monitor]
            return try guest.runToExit(commands: commands, timeout: timeout)
        }
    }
}
