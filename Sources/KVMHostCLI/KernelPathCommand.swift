import ArgumentParser
import GuestImage

/// Where the built-in guest.elf lies, for running it elsewhere (QEMU, gdb).
struct KernelPathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel-path",
        abstract: "Print the path of the built-in guest kernel (guest.elf).")

    @Flag(name: .long, help: "The kernel built for coverage (guest-coverage.elf), whose coverage mapping llvm-cov reads.")
    var coverage = false

    func run() throws {
        ExitCodes.reporting {
            try OutputStream.standardOutput.write((coverage ? GuestImage.coverageKernelURL : GuestImage.kernelURL).path + "\n")
            return 0
        }
    }
}
