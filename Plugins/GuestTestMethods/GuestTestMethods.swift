import Foundation
import PackagePlugin

/// Generates the GuestKernelTests XCTest class: one method per in-kernel test
/// case in Sources/Guest/KernelTests/GuestTestTable.swift, so that each case
/// is a test of its own, by its own name, that `swift test --filter` selects.
@main
struct GuestTestMethods: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernelTests = context.package.directoryURL.appending(path: "Sources/Guest/KernelTests")
        let table = kernelTests.appending(path: "GuestTestTable.swift")
        let script = kernelTests.appending(path: "generate-test-methods.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "GuestKernelTests.swift")
        return [
            .buildCommand(
                displayName: "Generating GuestKernelTests from the kernel's test table",
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [script.path, table.path, output.path],
                inputFiles: [table, script],
                outputFiles: [output]
            ),
        ]
    }
}
