import Foundation

/// The project's gdb helpers (scripts/gdb/kvmhost.py: Swift names for
/// breakpoints, listings and backtraces, and the memory manager's state) and
/// the one command line that attaches gdb to a stub with them loaded.
public enum GDBHelpers {
    /// The helpers in this source tree, which kvmhost was built from.
    public static var scriptURL: URL {
        URL(fileURLWithPath: #filePath)          // Sources/KVMHost/Debug/GDBHelpers.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/gdb/kvmhost.py")
    }

    /// Whether the helpers are where this build expects them.
    public static var scriptExists: Bool { FileManager.default.isReadableFile(atPath: scriptURL.path) }

    /// gdb's arguments to load `kernelPath` and the helpers and attach to
    /// the stub on 127.0.0.1:`port`; `extraOptions` go before the kernel,
    /// so that a word among them is never taken for a core file or a PID.
    public static func gdbArguments(port: UInt16, kernelPath: String, extraOptions: [String] = []) -> [String] {
        ["-q"] + (scriptExists ? ["-x", scriptURL.path] : []) + ["-ex", "target remote 127.0.0.1:\(port)"] + extraOptions + [kernelPath]
    }

    /// The same, as a line to paste into a shell.
    public static func attachCommand(port: UInt16, kernelPath: String) -> String {
        (["gdb"] + gdbArguments(port: port, kernelPath: kernelPath)).map(shellQuoted).joined(separator: " ")
    }

    private static func shellQuoted(_ word: String) -> String {
        let plain = word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./:=@%+,".unicodeScalars.contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
