import GuestImage
import GuestProtocol
import KVMHost

/// What several CPUs cost, in the guest's TSC cycles, on each backend of
/// the machine, side by side: the round trip of work posted to CPU 1 (its
/// wake IPI, its answer) against a ring-3 int3's round trip on the boot
/// CPU (int3-bench less empty, per int3), a TLB shootdown to CPU 1 of 1 and
/// of 512 pages against the same invalidation on the boot CPU alone, and
/// 256 demand faults by one thread against 128 each by two threads on two
/// CPUs (threads-touch: how the page trap scales under its process lock).
func severalCPUs(runs: Int) throws -> [Row] {
    var rows: [Row] = []
    for backend in Backend.allCases {
        if let reason = backend.unavailableReason {
            print("skipping smp on \(backend): \(reason)")
            continue
        }
        var configuration = LiveGuest.Configuration(backend: backend)
        configuration.cpuCount = 2
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: configuration)
        _ = try guest.boot()
        var empty: [Double] = [], breakpoints: [Double] = []
        for _ in 0..<runs {
            empty.append(Double(try guest.runProgram("empty", reportFaults: false).userCycles))
            let int3 = try guest.runProgram("int3-bench", reportFaults: false)
            guard int3.breakpoints == 256 else { throw BenchmarkError("int3-bench took \(int3.breakpoints) breakpoints") }
            breakpoints.append(Double(int3.userCycles))
        }
        let int3 = (median(breakpoints) - median(empty)) / 256
        let rounds: UInt64 = 200
        let one = try guest.call(MeasureSeveralCPUs(pages: 1, rounds: rounds), timeout: .seconds(300))
        let many = try guest.call(MeasureSeveralCPUs(pages: 512, rounds: rounds), timeout: .seconds(300))
        var alone: [Double] = [], shared: [Double] = []
        for _ in 0..<runs {
            for (threads, samples) in [(1, 0), (2, 1)] {
                let run = try guest.runProgram("threads-touch", reportFaults: false, threads: threads, timeout: .seconds(300))
                guard run.outcome == .exited(status: 0), run.reallocations == 256 else {
                    throw BenchmarkError("threads-touch with \(threads) threads: \(run.outcome), \(run.reallocations) faults")
                }
                if samples == 0 { alone.append(Double(run.userCycles)) } else { shared.append(Double(run.userCycles)) }
            }
        }
        _ = try guest.shutdown()
        func cycles(_ value: Double) -> String { String(format: "%.0f cycles", value) }
        let on = " (\(backend), median of \(rounds))"
        rows += [
            Row(measurement: "IPI round trip: work to CPU 1, its answer" + on, figure: cycles(Double(one.wakeRoundTrip)),
                baseline: "int3 round trip " + cycles(int3), ratio: times(Double(one.wakeRoundTrip) / int3) + " the int3"),
            Row(measurement: "TLB shootdown of 1 page to CPU 1" + on, figure: cycles(Double(one.shootdown)),
                baseline: "invlpg of 1 page here " + cycles(Double(one.localInvalidate)),
                ratio: times(Double(one.shootdown) / max(1, Double(one.localInvalidate)))),
            Row(measurement: "TLB shootdown of 512 pages to CPU 1 (it reloads CR3)" + on, figure: cycles(Double(many.shootdown)),
                baseline: "invlpg of 512 pages here " + cycles(Double(many.localInvalidate)),
                ratio: times(Double(many.shootdown) / max(1, Double(many.localInvalidate)))),
            Row(measurement: "256 demand faults, 128 by each of 2 threads on 2 CPUs (\(backend), median of \(runs))",
                figure: cycles(median(shared)), baseline: "256 by one thread " + cycles(median(alone)),
                ratio: times(median(shared) / median(alone))),
            Row(measurement: "full TLB shootdown to CPU 1" + on, figure: cycles(Double(one.fullShootdown)),
                baseline: "CR3 reload here " + cycles(Double(one.localFullFlush)),
                ratio: times(Double(one.fullShootdown) / max(1, Double(one.localFullFlush)))),
        ]
    }
    return rows
}
