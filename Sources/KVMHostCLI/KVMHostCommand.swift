import ArgumentParser

@main
struct KVMHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmhost",
        abstract: "Boot the paging test kernel under KVM, with its console on this terminal.",
        discussion: """
            Exit status: the guest's own status, when it stops by itself with a status from 0 \
            to 63 (0 after `quit` in the monitor, at the end of piped input, or after Ctrl-A x); \
            otherwise kvmhost's:
               64  bad arguments (size, range, timeout, option, a --gdb port in use, a KVMHOST_* variable's value)
               65  bad kernel image or snapshot (missing, unreadable, not a regular file, too large, malformed)
               69  kvmhost gdb: gdb cannot be run (not on PATH, or KVMHOST_GDB names no executable)
               74  kvmhost could not write the guest's console or its output (stdout closed or full, a snapshot
                   or profile file, KVMHOST_COVERAGE_DIR)
              120  the guest exited with a status above 63 (the real value is printed on stderr)
              121  kernel panic or failed guest assertion
              122  triple fault
              123  unhandled CPU exception in the kernel
              124  timeout: the watchdog stopped the guest (--timeout covers the whole run)
              125  other guest failures (unknown port, MMIO, channel garbage, an address space too large to walk)
              126  KVM cannot be used here
            """,
        subcommands: [BootCommand.self, AddressSpaceCommand.self, KernelPathCommand.self, GDBCommand.self],
        defaultSubcommand: BootCommand.self
    )

    /// Before anything opens a file: a closed standard stream's number is
    /// held, and SIGPIPE becomes a write error kvmhost reports.
    static func main() {
        OutputStream.holdClosedStandardStreams()
        Terminal.ignoreBrokenPipes()
        main(nil)
    }
}
