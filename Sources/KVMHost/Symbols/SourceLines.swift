import Foundation

/// File and line for guest addresses, from the image's DWARF, by the
/// toolchain's `llvm-symbolizer` (beside swiftc). One run answers every
/// address of a report; it is bounded in time and output, and when the tool
/// is missing or fails, the answer is nil and the reason says why.
enum SourceLines {
    /// Where llvm-symbolizer is: $KVMHOST_LLVM_SYMBOLIZER, else beside
    /// swiftc on PATH (symbolic links resolved), else on PATH.
    static let symbolizerPath: String? = ToolchainTool.path(of: "llvm-symbolizer", override: "KVMHOST_LLVM_SYMBOLIZER")

    static let timeout: TimeInterval = 5
    static let maximumOutput = 1 << 20

    /// "file:line" for each address (nil where DWARF has none), or the reason there are none.
    static func locate(_ addresses: [UInt64], in imagePath: String) -> Result<[String?], SymbolizationProblem> {
        guard let tool = symbolizerPath else { return .failure(.noSymbolizer) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--obj=\(imagePath)", "--functions=none", "--inlines"] + addresses.map { "0x" + String($0, radix: 16) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(.symbolizerFailed("\(tool): \(error)")) }
        let killer = DispatchWorkItem { [process] in process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let data = output.fileHandleForReading.readDataToEndOfFile().prefix(maximumOutput)
        process.waitUntilExit()
        killer.cancel()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            return .failure(.symbolizerFailed("\(tool) ended with status \(process.terminationStatus)"))
        }
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
