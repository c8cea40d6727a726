import Foundation
import GuestProtocol

/// The environment variables KVMHost reads, each checked in one place:
/// a value that is not one the variable takes is an `EnvironmentError`
/// naming the variable, never a silent default or a crash. (GuestImage's
/// `KVMHOST_GUEST_VARIANT` is checked by `GuestImage.checkEnvironment()`;
/// `PATH` is the system's, any list of directories, and a tool missing from
/// it is named where it is looked for.)
public enum KVMHostEnvironment {
    /// Every instrumented guest leaves its profile in this directory.
    public static let coverageDirectory = "KVMHOST_COVERAGE_DIR"
    /// A failing run waits for gdb on this port (`LiveGuest.debugOnFailureVariable`).
    public static let gdbOnFailure = "KVMHOST_GDB_ON_FAILURE"
    /// `1`: the gdb stub's packets on stderr.
    public static let gdbTrace = "KVMHOST_GDB_TRACE"
    /// The llvm-symbolizer to run instead of the toolchain's.
    public static let llvmSymbolizer = "KVMHOST_LLVM_SYMBOLIZER"
    /// The gdb `kvmhost gdb` runs instead of the one on PATH.
    public static let gdb = "KVMHOST_GDB"

    /// The CPUs a configuration has unless it says otherwise
    /// (`LiveGuest.Configuration.cpuCount`): a whole suite on several CPUs.
    public static let cpuCount = "KVMHOST_SMP"

    public static let variables = [coverageDirectory, gdbOnFailure, gdbTrace, llvmSymbolizer, gdb, cpuCount]

    /// KVMHOST_SMP's count, 1 when it is unset.
    public static func defaultCPUCount(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(EnvironmentError) -> Int {
        guard let value = environment[cpuCount] else { return 1 }
        // Digits only, leading zeros allowed, as --smp takes them.
        let digits = value.utf8.drop { $0 == 0x30 }
        guard !value.isEmpty, digits.count <= 3, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let count = Int(String(decoding: digits, as: UTF8.self)), (1...GuestCPUs.maximumCount).contains(count) else {
            throw EnvironmentError(variable: cpuCount, value: value, expected: "a CPU count, 1 to \(GuestCPUs.maximumCount)")
        }
        return count
    }

    /// Checks every variable of `environment` that KVMHost reads.
    public static func check(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(EnvironmentError) {
        _ = try defaultCPUCount(environment)
        if let value = environment[gdbOnFailure] {
            // Decimal digits only: UInt16 would take "+1" too.
            guard value.allSatisfy(\.isASCII) && value.allSatisfy(\.isNumber), let port = UInt16(value), port > 0 else {
                throw EnvironmentError(variable: gdbOnFailure, value: value, expected: "a TCP port, 1 to 65535")
            }
        }
        if let value = environment[gdbTrace], value != "1" {
            // Read as set or not: "0" or "no" would turn it on.
            throw EnvironmentError(variable: gdbTrace, value: value, expected: "1 (or unset)")
        }
        if let value = environment[llvmSymbolizer] {
            guard !value.isEmpty, isExecutableFile(value) else {
                throw EnvironmentError(variable: llvmSymbolizer, value: value, expected: "the path of an executable file")
            }
        }
        if let value = environment[gdb] {
            guard !value.isEmpty, isExecutableFile(value) else {
                throw EnvironmentError(variable: gdb, value: value, expected: "the path of an executable file")
            }
        }
        if let value = environment[coverageDirectory], !value.isEmpty {
            var status = stat()
            guard stat(value, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw EnvironmentError(variable: coverageDirectory, value: value, expected: "an existing directory",
                                       isOutput: true)
            }
            guard access(value, W_OK) == 0 else {
                throw EnvironmentError(variable: coverageDirectory, value: value, expected: "a directory this user can write",
                                       isOutput: true)
            }
        }
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }
}

/// An environment variable whose value is not one it takes.
public struct EnvironmentError: Error, Equatable, Sendable, CustomStringConvertible {
    public let variable: String
    public let value: String
    public let expected: String
    /// The variable names where output goes (the coverage directory): what
    /// cannot be written there is output lost, not a bad argument.
    public let isOutput: Bool

    public init(variable: String, value: String, expected: String, isOutput: Bool = false) {
        self.variable = variable
        self.value = value
        self.expected = expected
        self.isOutput = isOutput
    }

    /// Characters of a value a message repeats; the rest is counted.
    static let shownCharacters = 200

    public var description: String {
        let shown = value.count <= Self.shownCharacters ? value
            : String(value.prefix(Self.shownCharacters)) + "... (\(value.utf8.count) bytes)"
        return "\(variable)=\(escapingControlCharacters(shown)): it takes \(expected)"
    }
}
