import FuzzTargets

// Built with `swift build --sanitize fuzzer -Xswiftc -DFUZZING` (scripts/fuzz),
// libFuzzer drives the gdb stub's packet reader through this entry point. In an ordinary build
// the same target replays the files it is given, for reproducing a crash.
#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzRemotePackets(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum ReplayRemotePackets {
    static func main() throws { try replay(CommandLine.arguments.dropFirst(), through: fuzzRemotePackets) }
}
#endif
