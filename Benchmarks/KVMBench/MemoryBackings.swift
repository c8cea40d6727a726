import KVMHost

/// Demand-fault cost with each host backing of guest RAM: the page trap's
/// known-zero demand fault (`measurePageTrap`), on frames never handed out
/// since boot and so never backed on the host either: each first touch is
/// also a host fault — per 4 KiB page with anonymous memory, per 2 MiB with
/// transparent huge pages or hugetlb. Next to anonymous memory's in the same
/// run; a backing the host cannot give is a row naming why.
func memoryBackings(runs: Int) throws -> [Row] {
    var figures: [MemoryBacking: PageTrapFigures] = [:]
    var refused: [MemoryBacking: String] = [:]
    for backing in MemoryBacking.allCases {
        do {
            figures[backing] = try measurePageTrap(runs: runs, backing: backing)
        } catch let error as MemoryBackingError {
            refused[backing] = "\(error)"
        }
    }
    guard let anonymous = figures[.anonymous] else { throw BenchmarkError("anonymous memory could not back a guest") }
    return MemoryBacking.allCases.map { backing in
        let name = "demand fault, known-zero frame, \(backing.rawValue) host memory (median of \(runs) x 256)"
        guard let cost = figures[backing]?.knownZero else {
            return Row(measurement: name, figure: "not measured", baseline: refused[backing] ?? "", ratio: "")
        }
        return Row(measurement: name, figure: formatTime(cost), baseline: "anonymous " + formatTime(anonymous.knownZero),
                   ratio: times(cost / anonymous.knownZero) + " the time")
    }
}
