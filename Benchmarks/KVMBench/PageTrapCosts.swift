import GuestImage
import KVMHost

/// The page trap's costs, from user mode, in one live guest: a demand fault
/// (take a frame, map it, resume) with a known-zero frame and with one that
/// needs zeroing, against the empty exception round trip (int3, the handler
/// only returns), which is the limit here; and an empty page fault (the
/// kernel skips the instruction). Each program does 256 of one thing; the
/// kernel counts the time-stamp cycles the program spends in ring 3 (its
/// traps included, building and tearing down its process not), less those
/// of an empty program. Cycles become microseconds by the host's wall-clock
/// time of the int3 program.
func pageTrapCosts(runs: Int) throws -> [Row] {
    let figures = try measurePageTrap(runs: runs)
    let baseline = "int3 round trip " + formatTime(figures.roundTrip)
    func row(_ name: String, _ cost: Double, limit: Double? = nil) -> Row {
        Row(measurement: name + " (median of \(runs) x 256)", figure: formatTime(cost),
            baseline: baseline, ratio: times(cost / figures.roundTrip) + " the round trip",
            target: limit.map { "<= \(Int($0))x the round trip" } ?? "", met: limit.map { cost / figures.roundTrip <= $0 })
    }
    return [
        row("demand fault, known-zero frame", figures.knownZero, limit: 2),
        row("demand fault, frame needing zeroing", figures.needsZeroing),
        row("empty page fault, Swift trap path", figures.emptyFault),
    ]
}

/// The page trap's costs in nanoseconds, each per operation.
struct PageTrapFigures {
    var roundTrip: Double
    /// A frame never handed out since boot: nor touched on the host.
    var knownZero: Double
    var needsZeroing: Double
    var emptyFault: Double
}

func measurePageTrap(runs: Int, backing: MemoryBacking = .anonymous) throws -> PageTrapFigures {
    var configuration = LiveGuest.Configuration()
    configuration.memoryBacking = backing
    let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: configuration)
    _ = try guest.boot()
    let names = try guest.programNames()
    let operations = 256.0

    func measure(_ program: String, skippingFaults: Bool = false) throws -> (cycles: Double, run: ProgramRun, wall: Double) {
        let start = ContinuousClock.now
        let run: ProgramRun
        if skippingFaults {
            guard let index = names.firstIndex(of: program) else { throw BenchmarkError("no program \(program)") }
            run = try guest.call(RunProgramSkippingFaults(index: UInt64(index)), timeout: .seconds(120))
        } else {
            run = try guest.runProgram(program, reportFaults: false, timeout: .seconds(120))
        }
        return (Double(run.userCycles), run, nanoseconds(ContinuousClock.now - start))
    }

    var empty: [Double] = [], breakpoints: [Double] = [], nullFaults: [Double] = [], knownZero: [Double] = [], dirty: [Double] = []
    var emptyWall: [Double] = [], breakpointWall: [Double] = []
    for _ in 0..<runs {
        let nothing = try measure("empty")
        empty.append(nothing.cycles)
        emptyWall.append(nothing.wall)
        let int3 = try measure("int3-bench")
        guard int3.run.breakpoints == 256 else { throw BenchmarkError("int3-bench took \(int3.run.breakpoints) breakpoints") }
        breakpoints.append(int3.cycles)
        breakpointWall.append(int3.wall)
        nullFaults.append(try measure("fault-bench", skippingFaults: true).cycles)
        // Frames never handed out since boot are known zero: point the
        // allocator past everything handed out so far.
        _ = try guest.call(RestartFrameSearch(fresh: true))
        let fresh = try measure("touch-bench")
        guard fresh.run.reallocations == 256 else { throw BenchmarkError("touch-bench faulted \(fresh.run.reallocations) times") }
        knownZero.append(fresh.cycles)
    }
    // Frames handed out before need zeroing: point the allocator back at them.
    for _ in 0..<runs {
        _ = try guest.call(RestartFrameSearch(fresh: false))
        let used = try measure("touch-bench")
        guard used.run.reallocations == 256 else { throw BenchmarkError("touch-bench faulted \(used.run.reallocations) times") }
        dirty.append(used.cycles)
    }

    let base = median(empty)
    func perOperation(_ values: [Double]) -> Double { (median(values) - base) / operations }
    let roundTrip = perOperation(breakpoints)
    // The int3 program's wall time, less the empty program's, is 256 round trips.
    let nanosecondsPerCycle = (median(breakpointWall) - median(emptyWall)) / operations / roundTrip
    return PageTrapFigures(roundTrip: roundTrip * nanosecondsPerCycle, knownZero: perOperation(knownZero) * nanosecondsPerCycle,
                           needsZeroing: perOperation(dirty) * nanosecondsPerCycle, emptyFault: perOperation(nullFaults) * nanosecondsPerCycle)
}
