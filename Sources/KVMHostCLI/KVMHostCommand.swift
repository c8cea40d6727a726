import ArgumentParser

@main
struct KVMHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmhost",
        abstract: "Boot the paging test kernel under KVM, with its console on this terminal.",
        discussion: ExitCodes.helpText,
        subcommands: [BootCommand.self, AddressSpaceCommand.self, KernelPathCommand.self, GDBCommand.self],
        defaultSubcommand: BootCommand.self
    )

    /// Before anything opens a file: a closed standard stream's number is
    /// held, and SIGPIPE becomes a write error kvmhost reports.
    static func main() {
        OutputStream.holdClosedStandardStreams()
        Terminal.ignoreBrokenPipes()
        // `kvmhost --help` shows boot's options too: boot is what `kvmhost` runs.
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--help"] || arguments == ["-h"] || arguments == ["help"] {
            print(helpMessage(columns: nil))
            print("\nOPTIONS OF boot, THE DEFAULT SUBCOMMAND (`kvmhost --memory 1G` is `kvmhost boot --memory 1G`):")
            let boot = BootCommand.helpMessage(columns: nil)
            print(boot.range(of: "OPTIONS:\n").map { String(boot[$0.upperBound...]) } ?? boot)
            return
        }
        main(nil)
    }
}
