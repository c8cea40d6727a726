import GuestImage
import GuestProtocol
import KVMHost

/// The same operations through `LiveGuest` on each backend, side by side:
/// a whole boot (start, boot to ready, shut down), a call round trip, a
/// program's 256 demand faults (ring-0 work, emulated by this machine's KVM)
/// and 256 ring-3 int3s. Kvm's figure is the row's; tcg's is its baseline.
func backendComparison(runs: Int) throws -> [Row] {
    guard Backend.tcg.unavailableReason == nil else {
        return [Row(measurement: "backends", figure: "-", baseline: "tcg: \(Backend.tcg.unavailableReason!)", ratio: "-")]
    }
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    struct Figures { var boot: [Double] = [], echo: [Double] = [], faults: [Double] = [], breakpoints: [Double] = [] }
    var figures: [Backend: Figures] = [:]
    // Interleaved, so that the machine's noise falls on both alike.
    for round in 0...runs {
        for backend in Backend.allCases {
            var these = figures[backend] ?? Figures()
            let boot = nanoseconds(try clock.measure {
                let guest = try LiveGuest(kernel: kernel, configuration: .init(backend: backend))
                _ = try guest.boot()
                guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
            })
            let guest = try LiveGuest(kernel: kernel, configuration: .init(backend: backend))
            _ = try guest.boot()
            var echoes: [Double] = []
            for _ in 0..<50 {
                echoes.append(nanoseconds(try clock.measure { _ = try guest.call(Echo([])) }))
            }
            let faults = nanoseconds(try clock.measure {
                guard try guest.runProgram("touch-bench", reportFaults: false).reallocations == 256 else {
                    throw BenchmarkError("touch-bench did not take 256 demand faults")
                }
            })
            let breakpoints = nanoseconds(try clock.measure {
                guard try guest.runProgram("int3-bench", reportFaults: false).breakpoints == 256 else {
                    throw BenchmarkError("int3-bench did not take 256 breakpoints")
                }
            })
            _ = try guest.shutdown()
            guard round > 0 else { continue }  // the first round warms up
            these.boot.append(boot)
            these.echo.append(median(echoes))
            these.faults.append(faults)
            these.breakpoints.append(breakpoints)
            figures[backend] = these
        }
    }
    let kvm = figures[.kvm]!, tcg = figures[.tcg]!
    func row(_ name: String, _ ours: [Double], _ theirs: [Double]) -> Row {
        let ratio = median(theirs) / median(ours)
        return Row(measurement: "\(name), kvm backend (median of \(runs))", figure: formatTime(median(ours)),
                   baseline: "tcg backend " + formatTime(median(theirs)),
                   ratio: ratio >= 1 ? times(ratio) + " faster on kvm" : times(1 / ratio) + " faster on tcg")
    }
    return [
        row("LiveGuest start, boot to ready, shut down", kvm.boot, tcg.boot),
        row("call round trip, Echo of no words", kvm.echo, tcg.echo),
        row("touch-bench run, 256 demand faults", kvm.faults, tcg.faults),
        row("int3-bench run, 256 ring-3 int3s", kvm.breakpoints, tcg.breakpoints),
    ]
}
