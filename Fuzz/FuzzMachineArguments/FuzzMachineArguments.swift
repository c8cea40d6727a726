import FuzzTargets

// Built with `swift build --sanitize fuzzer -Xswiftc -DFUZZING` (scripts/fuzz),
// libFuzzer drives kvmhost's option parsing through this entry point. In an ordinary build
// the same target replays the files it is given, for reproducing a crash.
#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzMachineArguments(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum ReplayMachineArguments {
    static func main() throws { try replay(CommandLine.arguments.dropFirst(), through: fuzzMachineArguments) }
}
#endif
