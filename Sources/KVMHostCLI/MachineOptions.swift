import ArgumentParser
import Foundation
import GuestImage
import KVMHost

/// What every subcommand needs to build the machine.
struct MachineOptions: ParsableArguments {
    @Option(name: .long, help: "Guest memory in MiB (4 to 3072).")
    var memory: Int = VirtualMachine.defaultMemorySize >> 20

    @Option(name: .long, help: ArgumentHelp("A guest kernel ELF with a PVH entry (default: the built-in guest).", valueName: "path"))
    var kernel: String?

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Mark a range of guest memory reserved in the memory map, as START-END in hex (repeatable).",
                               valueName: "range"))
    var reserve: [String] = []

    @Option(name: .long, help: ArgumentHelp("Seconds the guest may run before the watchdog stops it (default: none when interactive, 60 otherwise).",
                                           valueName: "seconds"))
    var timeout: Double?

    /// Checked in `run`, not `validate`, so that a bad value is one line
    /// on stderr (and exit status 64) rather than an error with the usage.
    func check() throws {
        guard (4...3072).contains(memory) else { throw UsageError("--memory must lie between 4 and 3072 MiB; got \(memory)") }
        if let timeout, !(timeout > 0) { throw UsageError("--timeout must be a positive number of seconds") }
        for range in reserve { _ = try Self.parseRange(range) }
    }

    static func parseRange(_ text: String) throws -> Range<UInt64> {
        let parts = text.split(separator: "-", maxSplits: 1).map { $0.lowercased().replacingOccurrences(of: "0x", with: "") }
        guard parts.count == 2, let start = UInt64(parts[0], radix: 16), let end = UInt64(parts[1], radix: 16), start < end else {
            throw UsageError("--reserve takes START-END in hex, for example 0x800000-0xa00000; got '\(text)'")
        }
        return start..<end
    }

    func kernelImage() throws -> [UInt8] {
        guard let kernel else { return try GuestImage.kernel() }
        guard FileManager.default.fileExists(atPath: kernel) else { throw KernelFileError(path: kernel, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: kernel) else { throw KernelFileError(path: kernel, reason: "not readable") }
        return [UInt8](data)
    }

    func configuration() throws -> LiveGuest.Configuration {
        try check()
        return LiveGuest.Configuration(memorySize: memory << 20, memoryHoles: try reserve.map(Self.parseRange))
    }

    /// The watchdog: as asked, or none for a person at a terminal.
    func watchdog(interactive: Bool) -> Duration {
        if let timeout { return .milliseconds(Int64(timeout * 1000)) }
        return interactive ? .seconds(100 * 365 * 86_400) : .seconds(60)
    }
}
