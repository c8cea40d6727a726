import Foundation

/// File and line for guest addresses, from the image's DWARF, by the
/// toolchain's `llvm-symbolizer` (beside swiftc). One run answers every
/// address of a report; it is bounded in time and output, and when the tool
/// is missing or fails, the answer is nil and the reason says why.
enum SourceLines {
    /// Where llvm-symbolizer is: $KVMHOST_LLVM_SYMBOLIZER (which must name
    /// an executable file), else beside swiftc on PATH (symbolic links
    /// resolved), else on PATH.
    static let symbolizer: Result<String, SymbolizationProblem> = {
        if let value = ProcessInfo.processInfo.environment[KVMHostEnvironment.llvmSymbolizer] {
            guard KVMHostEnvironment.isExecutableFile(value) else {
                return .failure(.symbolizerFailed("\(KVMHostEnvironment.llvmSymbolizer)=\(value) is not an executable file"))
            }
            return .success(value)
        }
        guard let path = ToolchainTool.path(of: "llvm-symbolizer") else { return .failure(.noSymbolizer) }
        return .success(path)
    }()

    /// The symbolizer's bounds: it is killed, with every process it
    /// started, after 5 s or past 1 MiB of output.
    static let timeout: Double = 5
    static let maximumOutput = 1 << 20

    /// "file:line" for each address (nil where DWARF has none), or the reason there are none.
    static func locate(_ addresses: [UInt64], in imagePath: String) -> Result<[String?], SymbolizationProblem> {
        symbolizer.flatMap { locate(addresses, in: imagePath, tool: $0) }
    }

    static func locate(_ addresses: [UInt64], in imagePath: String, tool: String,
                       timeout: Double = timeout, maximumOutput: Int = maximumOutput) -> Result<[String?], SymbolizationProblem> {
        let outcome: BoundedProcess.Outcome
        do {
            outcome = try BoundedProcess.run(tool, ["--obj=\(imagePath)", "--functions=none", "--inlines"]
                                             + addresses.map { "0x" + String($0, radix: 16) }, timeout: timeout, maximumOutput: maximumOutput)
        } catch {
            return .failure(error)
        }
        if let stopped = outcome.stopped { return .failure(.symbolizerFailed("\(tool) was stopped: \(stopped)")) }
        guard outcome.status == 0 else {
            return .failure(.symbolizerFailed("\(tool) ended " + (outcome.status.map { "with status \($0)" } ?? "by a signal")))
        }
        let data = outcome.output
        // One block an address, then a blank line: its location, innermost
        // inlined code first, the function that owns the frame last.
        let blocks = String(decoding: data, as: UTF8.self).components(separatedBy: "\n\n")
        return .success(addresses.indices.map { index in
            guard index < blocks.count else { return nil }
            let known = blocks[index].split(separator: "\n").compactMap { line -> String? in
                guard !line.hasPrefix("??"), !line.contains("<compiler-generated>"), let lastColon = line.lastIndex(of: ":") else { return nil }
                let fileAndLine = line[..<lastColon]  // drop the column
                return fileAndLine.hasSuffix(":0") ? nil : String(fileAndLine)
            }
            guard let owner = known.last else { return nil }
            return known.count == 1 ? owner : "\(owner) (inlined: \(known.dropLast().joined(separator: ", ")))"
        })
    }
}

/// Why a report has no file:line.
public enum SymbolizationProblem: Error, Equatable, Sendable, CustomStringConvertible {
    case noSymbolizer
    case symbolizerFailed(String)
    case noDebugInformation
    case cannotWriteImage(String)

    public var description: String {
        switch self {
        case .noSymbolizer: return "llvm-symbolizer was not found beside swiftc or on PATH (set KVMHOST_LLVM_SYMBOLIZER)"
        case .symbolizerFailed(let why): return "llvm-symbolizer failed: \(why)"
        case .noDebugInformation: return "the kernel image has no DWARF line table"
        case .cannotWriteImage(let why): return "the kernel image could not be written for llvm-symbolizer: \(why)"
        }
    }
}
