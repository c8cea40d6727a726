import ArgumentParser
import Foundation
import GuestImage
import KVMHost

/// gdb attached to a running guest's stub, with the kernel's symbols and the
/// project's gdb helpers loaded: QEMU's `-s -S` in two commands,
/// `kvmhost --gdb 1234 --gdb-wait` in one terminal and `kvmhost gdb 1234`
/// in another. kvmhost becomes gdb (exec), so gdb owns the terminal.
struct GDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdb",
        abstract: "Run gdb attached to a guest's gdb stub, with the kernel's symbols and the gdb helpers loaded.",
        discussion: """
            The helpers add `swift break NAME`, `swift list`, `swift print`, `swift functions` (kernel \
            functions and variables by their Swift names) and `kernel walk`, `kernel frames`, \
            `kernel process`, `kernel faults` (the memory manager's state, read from guest memory); \
            backtraces show Swift names. gdb is found on PATH, or named by KVMHOST_GDB. \
            Exit status: gdb's, or 64 (bad arguments), 65 (no kernel image there), 69 (no gdb).
            """)

    @Argument(help: ArgumentHelp("The stub's port on 127.0.0.1, 1 to 65535, as `kvmhost --gdb PORT` printed it.", valueName: "port"))
    var portText: String

    /// Decimal digits only, 1 to 65535 (UInt16 would take "+80" too).
    var port: UInt16? {
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = UInt16(portText), value > 0 else { return nil }
        return value
    }

    @Option(name: .long, help: ArgumentHelp("The kernel the guest booted, when it is not the built-in one.", valueName: "path"))
    var kernel: String?

    @Flag(name: .long, help: "The guest booted the kernel built for coverage (kvmhost --coverage).")
    var coverage = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Options for gdb, after -- (they come before the kernel on gdb's command line).",
                                                           valueName: "gdb options"))
    var gdbArguments: [String] = []

    func validate() throws {
        if port == nil {
            throw ValidationError("gdb attaches to a stub's port, 1 to 65535, not '\(escapingControlCharacters(portText))' "
                                  + "(kvmhost --gdb 0 prints the port it took)")
        }
        if kernel != nil && coverage { throw ValidationError("--kernel and --coverage each name the kernel: give one") }
    }

    func run() throws {
        let path: String
        do {
            // Every variable kvmhost reads, checked before anything runs, as for the other subcommands.
            try GuestImage.checkEnvironment()
            try KVMHostEnvironment.check()
            path = try kernel ?? GuestImage.replacementPath() ?? (coverage ? GuestImage.coverageKernelURL : GuestImage.kernelURL).path
        } catch {
            ExitCodes.printError("\(error)")
            throw ExitCode(ExitCodes.badArguments)
        }
        // A regular file, as kvmhost's own --kernel takes (a FIFO or a device is not opened to block).
        do {
            let (descriptor, _) = try UserFiles.openRegularFile(path)
            close(descriptor)
        } catch {
            ExitCodes.printError("cannot read the kernel image \(path): \(error.reason) (it gives gdb the kernel's symbols)")
            throw ExitCode(ExitCodes.badImage)
        }
        let gdb = try gdbPath()
        if !GDBHelpers.scriptExists {
            ExitCodes.printError("the gdb helpers are not at \(GDBHelpers.scriptURL.path) (kvmhost was built elsewhere): gdb runs without them")
        }
        let arguments = [gdb] + GDBHelpers.gdbArguments(port: port!, kernelPath: path, extraOptions: gdbArguments)
        let argv = arguments.map { strdup($0) } + [nil]
        signal(SIGPIPE, SIG_DFL)  // kvmhost ignores it; gdb gets the default, as from a shell
        execv(gdb, argv)
        ExitCodes.printError("cannot run \(gdb): \(String(cString: strerror(errno)))")
        throw ExitCode(ExitCodes.unavailable)
    }

    /// $KVMHOST_GDB (already checked), or gdb on PATH.
    private func gdbPath() throws -> String {
        if let named = ProcessInfo.processInfo.environment[KVMHostEnvironment.gdb] { return named }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for directory in directories {
            let candidate = "\(directory)/gdb"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        ExitCodes.printError("gdb is not on PATH (Debian: apt-get install gdb), and \(KVMHostEnvironment.gdb) is not set")
        throw ExitCode(ExitCodes.unavailable)
    }
}
