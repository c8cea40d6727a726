/// Every fuzz target, by the name scripts/fuzz, the corpus folders and the
/// replay command use: one list, which the `fuzz` executable dispatches on.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case elfLoader = "elf-loader"
    case reportChannel = "report-channel"
    case pageWalkers = "page-walkers"
    case machineArguments = "machine-arguments"
    case remotePackets = "remote-packets"
    case snapshotFile = "snapshot-file"
    case wireFormat = "wire-format"

    /// Runs one input; returns what the target made of it, for replays.
    public func run(_ input: UnsafeRawBufferPointer) -> String {
        switch self {
        case .elfLoader: return "\(String(describing: fuzzELFLoader(input)))"
        case .reportChannel: return "\(String(describing: fuzzReportChannel(input)))"
        case .pageWalkers: return "\(String(describing: fuzzPageWalkers(input)))"
        case .machineArguments: return "\(fuzzMachineArguments(input)) values parsed"
        case .remotePackets: return "\(fuzzRemotePackets(input)) packets"
        case .snapshotFile: return "\(String(describing: fuzzSnapshotFile(input)))"
        case .wireFormat: return "\(String(describing: fuzzWireFormat(input)))"
        }
    }

    /// The variable that names the target of a libFuzzer run.
    public static let environmentVariable = "KVMHOST_FUZZ_TARGET"
}
