import Foundation
import PackagePlugin

/// Generates the GuestKernelTests XCTest class: one method per in-kernel test
/// case of the *Cases lists in Sources/Guest/KernelTests, so that each case
/// is a test of its own, by its own name, that `swift test --filter` selects.
@main
struct GuestTestMethods: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernelTests = context.package.directoryURL.appending(path: "Sources/Guest/KernelTests")
        let script = kernelTests.appending(path: "generate-test-methods.sh")
        let files = (try FileManager.default.contentsOfDirectory(at: kernelTests, includingPropertiesForKeys: nil))
            .filter { $0.pathExtension == "swift" }
        let output = context.pluginWorkDirectoryURL.appending(path: "GuestKernelTests.swift")
        return [
            .buildCommand(
                displayName: "Generating GuestKernelTests from the kernel's case lists",
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [script.path, kernelTests.path, output.path],
                inputFiles: files + [script],
                outputFiles: [output]
            ),
        ]
    }
}
