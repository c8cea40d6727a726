import ArgumentParser

@main
struct KVMHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmhost",
        abstract: "Boot the paging test kernel under KVM, with its console on this terminal.",
        discussion: """
            Exit status: the guest's own exit status when it stops by itself (0 after `quit` \
            in the monitor or at the end of piped input, or after Ctrl-A x), otherwise:
              121  kernel panic or failed guest assertion
              122  triple fault
              123  unhandled CPU exception in the kernel
              124  timeout: the watchdog stopped the guest
              125  other guest failures (unknown port, MMIO, channel garbage)
              126  KVM cannot be used here
               64  bad arguments (size, range, option)
               65  bad kernel image (missing, unreadable, malformed ELF)
            """,
        subcommands: [BootCommand.self, AddressSpaceCommand.self],
        defaultSubcommand: BootCommand.self
    )
}
