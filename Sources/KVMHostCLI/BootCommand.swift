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
            output appears as it comes. Ctrl-A x quits at once, Ctrl-A h lists the escapes. \
            With input from a pipe or file, lines are fed to the monitor one at a time and \
            kvmhost exits once the input ends.
            """)

    @OptionGroup var machine: MachineOptions

    @Flag(name: .long, help: "Print every port access the guest makes to stderr.")
    var tracePorts = false

    @Flag(name: .long, help: "Boot, report ready and shut down, without the monitor.")
    var noMonitor = false

    func run() throws {
        ExitCodes.reporting {
            let interactive = isatty(STDIN_FILENO) == 1
            let configuration = try machine.configuration()
            let timeout = machine.watchdog(interactive: interactive)
            let guest = try LiveGuest(kernel: machine.kernelImage(), configuration: configuration)
            guest.serial.output = { bytes in FileHandle.standardOutput.write(Data(bytes)) }
            if tracePorts {
                guest.portTrace = { access in
                    let verb = access.direction == .output ? "out" : "in "
                    FileHandle.standardError.write(Data("port \(verb) 0x\(String(access.port, radix: 16)) size \(access.size) x\(access.count)\n".utf8))
                }
            }
            if interactive {
                Terminal.enterRawMode()
                guest.consoleInput = TerminalInput()
            } else {
                guest.consoleInput = PipedInput()
            }
            defer { Terminal.restore() }
            // A guest of our own reports ready and takes commands; any other
            // kernel simply runs until it stops.
            let commands: [GuestCommand] = noMonitor ? [] : [.monitor]
            return Int32(truncatingIfNeeded: try guest.runToExit(commands: commands, timeout: timeout))
        }
    }
}
