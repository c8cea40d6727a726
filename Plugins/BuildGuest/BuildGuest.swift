import Foundation
import PackagePlugin

/// Builds guest.elf, the Embedded Swift guest kernel, as a resource of the
/// target it is applied to, and guest-coverage.elf beside it: the same
/// kernel instrumented for source-based coverage. Every file under
/// Sources/Guest and guest.lds.S is an input, listed afresh on each build, so
/// editing, adding or deleting a guest file rebuilds both.
@main
struct BuildGuest: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let sources = package.appending(path: "Sources/Guest")
        let linkerScript = package.appending(path: "guest.lds.S")
        let script = sources.appending(path: "build-guest.sh")
        let swiftc = try context.tool(named: "swiftc").url
        let toolchainBin = swiftc.resolvingSymlinksInPath().deletingLastPathComponent()

        var inputs = [linkerScript, script]
        if let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let file as URL in walker where (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                inputs.append(file)
            }
        }
        // The list of guest files itself is an input too: a deleted file
        // changes it even though no remaining file changed.
        let manifest = context.pluginWorkDirectoryURL.appending(path: "guest-sources.txt")
        let listing = inputs.map(\.path).sorted().joined(separator: "\n")
        if (try? String(contentsOf: manifest, encoding: .utf8)) != listing {
            try listing.write(to: manifest, atomically: true, encoding: .utf8)
        }
        inputs.append(manifest)

        // The two variants, built by the same script into work folders of their own.
        return [("plain", "guest.elf", "objects"), ("coverage", "guest-coverage.elf", "objects-coverage")].map { variant, name, folder in
            let output = context.pluginWorkDirectoryURL.appending(path: name)
            let work = context.pluginWorkDirectoryURL.appending(path: folder)
            return .buildCommand(
                displayName: "Building guest kernel \(name)",
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [script.path, toolchainBin.path, sources.path, linkerScript.path, output.path, work.path, variant],
                inputFiles: inputs,
                outputFiles: [output]
            )
        }
    }
}
