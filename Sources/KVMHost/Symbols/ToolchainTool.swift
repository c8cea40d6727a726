import Foundation

/// The LLVM tools the swift.org toolchain ships beside swiftc
/// (llvm-symbolizer, llvm-profdata, llvm-cov): found where swiftc is.
public enum ToolchainTool {
    /// `$override` when set, else `name` beside swiftc on PATH (symbolic
    /// links resolved), else `name` on PATH; nil when none is executable.
    public static func path(of name: String, override: String? = nil) -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let override, let path = environment[override] { return path }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in directories {
            let swiftc = URL(fileURLWithPath: directory).appendingPathComponent("swiftc")
            guard FileManager.default.isExecutableFile(atPath: swiftc.path) else { continue }
            let beside = swiftc.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: beside.path) { return beside.path }
        }
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
