import FuzzTargets
import Glibc

// One executable for every fuzz target (FuzzTarget). Built with
// `swift build --sanitize fuzzer -Xswiftc -DFUZZING` (scripts/fuzz),
// libFuzzer drives the target that KVMHOST_FUZZ_TARGET names. In an
// ordinary build it replays files: `swift run fuzz TARGET FILE...`.
#if FUZZING
private let selected: FuzzTarget = {
    guard let name = getenv(FuzzTarget.environmentVariable).map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        complain("fuzz: set \(FuzzTarget.environmentVariable) to one of: \(names)\n")
        exit(64)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum ReplayFuzzInputs {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            complain("usage: fuzz TARGET FILE-OR-FOLDER...   (targets: \(names))\n")
            exit(64)
        }
        try replay(arguments.dropFirst(), through: target.run)
    }
}
#endif

private func complain(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
