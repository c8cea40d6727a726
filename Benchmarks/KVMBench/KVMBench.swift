import ArgumentParser
import KVMHost

/// Every benchmark of the project in one run, one table, each figure next to
/// the baseline it was measured against in that same run.
///
///     swift run -c release kvmbench
@main
struct KVMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmbench",
        abstract: "Measure the harness against its baselines and print one table.")

    enum Section: String, ExpressibleByArgument, CaseIterable {
        case boot, lifecycle, pageTrap = "page-trap", calls, frames, liveFrames = "live-frames", pagemap, fallback, coverage, backends, snapshots, memorySizes = "memory-sizes", memoryBackings = "memory-backings"
        case pageTableCheck = "page-table-check"
        case smp
    }

    @Option(help: "Sections to run (\(Section.allCases.map(\.rawValue).joined(separator: ", "))); all by default.")
    var only: [Section] = []

    @Option(help: "Boots and VM lifecycles measured on each side.")
    var runs = 20

    func run() throws {
        let sections = only.isEmpty ? Section.allCases : only
        let needsKVM: Set<Section> = [.boot, .lifecycle, .pageTrap, .calls, .liveFrames, .pagemap, .coverage, .backends, .snapshots, .memorySizes, .memoryBackings, .pageTableCheck]
        let kvm = KVM.deviceExists()
        print("kvmbench: \(machineDescription())")
        var rows: [Row] = []
        for section in sections {
            if needsKVM.contains(section) && !kvm {
                print("skipping \(section.rawValue): /dev/kvm is missing")
                continue
            }
            switch section {
            case .boot: rows.append(try bootToReady(runs: runs))
            case .lifecycle: rows.append(try vmCreateDestroy(runs: runs * 5))
            case .pageTrap: rows += try pageTrapCosts(runs: 5)
            case .calls: rows += try callRoundTrip(calls: 400)
            case .frames: rows += frameAllocation(trials: 25)
            case .liveFrames: rows += try liveFrameSearch(runs: 3)
            case .pagemap: rows += try pagemapCosts()
            case .fallback: rows += try memorySpaceFallback()
            case .coverage: rows += try coverageSlowdown(runs: runs)
            case .backends: rows += try backendComparison(runs: min(runs, 10))
            case .snapshots: rows += try snapshotCosts(runs: runs)
            case .memorySizes: rows += try memorySizes(runs: min(runs, 5))
            case .memoryBackings: rows += try memoryBackings(runs: 5)
            case .pageTableCheck: rows += try pageTableCheckCost(runs: 200)
            case .smp: rows += try severalCPUs(runs: 5)
            }
        }
        printTable(rows)
        let targets = rows.filter { $0.met != nil }
        let missed = targets.filter { $0.met == false }
        print(missed.isEmpty ? "\(targets.count) of \(targets.count) targets met"
                             : "\(missed.count) of \(targets.count) targets MISSED: " + missed.map(\.measurement).joined(separator: "; "))
    }
}
