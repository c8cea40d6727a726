import Foundation

/// Boots a guest ELF under `qemu-system-x86_64 -accel tcg -M pc -kernel`, an
/// independent x86 implementation to cross-check KVMHost against. The guest
/// finds no report channel there and prints its records on serial, which this
/// decodes with the same code the channel uses.
public struct QEMUBoot {
    public struct Result {
        /// What the guest wrote on serial (firmware output included).
        public var console: String
        public var reports: [GuestReport]
        /// QEMU's exit code; isa-debug-exit makes it `status << 1 | 1`.
        public var exitCode: Int32
        /// The guest's status, when it exited through isa-debug-exit.
        public var guestStatus: UInt32? { exitCode & 1 == 1 ? UInt32(exitCode >> 1) : nil }
        public var elapsed: Duration
    }

    public enum QEMUError: Error, CustomStringConvertible {
        case notInstalled
        case timedOut(after: Duration, console: String)

        public var description: String {
            switch self {
            case .notInstalled: return "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
            case .timedOut(let limit, let console): return "QEMU did not finish within \(limit); console:\n\(console)"
            }
        }
    }

    public var executable: String
    public var memoryMiB: Int
    /// QEMU's CPU model and features (`-cpu`), for example `qemu64,-nx`; its default when nil.
    public var cpu: String?

    public init(memoryMiB: Int = 64, cpu: String? = nil) throws {
        guard let path = Self.find() else { throw QEMUError.notInstalled }
        executable = path
        self.memoryMiB = memoryMiB
        self.cpu = cpu
    }

    public static func find() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/qemu-system-x86_64" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func arguments(kernel: String) -> [String] {
        ["-accel", "tcg", "-M", "pc", "-nodefaults", "-nographic", "-no-reboot",
         "-m", "\(memoryMiB)", "-serial", "stdio", "-monitor", "none",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-kernel", kernel] + (cpu.map { ["-cpu", $0] } ?? [])
    }

    /// Runs the guest to its exit, or kills QEMU at `timeout`.
    public func run(kernel: String, timeout: Duration = .seconds(30)) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(kernel: kernel)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let started = ContinuousClock.now
        try process.run()
        // The watchdog: QEMU is killed at the deadline, which ends the read below.
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let killer = DispatchWorkItem { [process] in process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: killer)
        let collected = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        if process.terminationReason == .uncaughtSignal {
            throw QEMUError.timedOut(after: timeout, console: String(decoding: collected, as: UTF8.self))
        }
        let console = String(decoding: collected, as: UTF8.self)
        return Result(console: console, reports: try GuestReport.decodeConsoleLines(console),
                      exitCode: process.terminationStatus, elapsed: ContinuousClock.now - started)
    }
}
