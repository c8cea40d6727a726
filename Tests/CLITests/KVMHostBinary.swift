import Foundation
import XCTest

/// The built kvmhost, run as a user runs it.
struct KVMHostBinary {
    let url: URL

    /// kvmhost, or another product of the package (`kvmstress`).
    init(product: String = "kvmhost") throws {
        let directory = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidates = [directory.appendingPathComponent(product),
                          Bundle.main.bundleURL.appendingPathComponent(product)]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("the \(product) binary was not found beside the test bundle (\(directory.path))")
        }
        url = found
    }

    /// The package's root, where scripts/ is.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs another program (a wrapper around kvmhost, such as unshare).
    func run(program: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> Result {
        try run(executable: URL(fileURLWithPath: program), arguments, input: "", timeout: timeout)
    }

    /// Runs kvmhost with `arguments`, `input` on a pipe as stdin.
    func run(_ arguments: [String], input: String = "", timeout: TimeInterval = 60, environment: [String: String] = [:]) throws -> Result {
        try run(executable: url, arguments, input: input, timeout: timeout, environment: environment)
    }

    /// Runs kvmhost through sh with `redirections` applied to it (for
    /// example `>/dev/full`, `>&-`, `2>&1`): what is not redirected comes
    /// back on pipes as usual.
    func run(_ arguments: [String], redirections: String, input: String = "", timeout: TimeInterval = 60) throws -> Result {
        try run(executable: URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \"$0\" \"$@\" \(redirections)", url.path] + arguments,
                input: input, timeout: timeout)
    }

    /// Runs a script of the package's scripts/ with `arguments`.
    static func runScript(_ name: String, _ arguments: [String]) throws -> Result {
        try KVMHostBinary(url: packageRoot.appendingPathComponent("scripts/\(name)")).run(arguments)
    }

    private init(url: URL) { self.url = url }

    private func run(executable: URL, _ arguments: [String], input: String, timeout: TimeInterval,
                     environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let killer = DispatchWorkItem { [process] in process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        return Result(status: process.terminationStatus, stdout: output, stderr: errors.text())
    }
}

/// Reads a pipe to its end on another thread, so neither pipe can fill up.
final class ErrorCollector: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }.start()
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
