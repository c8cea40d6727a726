import Foundation
import PackagePlugin

/// Generates the wire coding of the protocol's types (WireCoding.swift) from
/// their declarations in Sources/Guest/Protocol and Sources/Guest/Memory,
/// with WireCodeGenerator: the same file build-guest.sh compiles into the kernel.
@main
struct WireCoding: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let guest = context.package.directoryURL.appending(path: "Sources/Guest")
        let directories = [guest.appending(path: "Protocol"), guest.appending(path: "Memory")]
        let output = context.pluginWorkDirectoryURL.appending(path: "WireCoding.swift")
        var inputs: [URL] = []
        for directory in directories {
            if let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) {
                inputs += walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            }
        }
        return [
            .buildCommand(
                displayName: "Generating the protocol's wire coding",
                executable: try context.tool(named: "WireCodeGenerator").url,
                arguments: [output.path] + directories.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            ),
        ]
    }
}
