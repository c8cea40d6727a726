import GuestImage
import KVMHost

/// What coverage instrumentation costs: guest-coverage.elf against guest.elf,
/// interleaved run by run, for a boot to the ready report, a demand-paging
/// program (touch-bench: 256 demand faults, run through the whole process
/// life cycle) and the kernel-mode access checks (a chunk of combinations against
/// the MMU). Every counter the instrumented kernel bumps is a memory-operand
/// instruction that this machine's KVM emulates in ring 0.
func coverageSlowdown(runs: Int) throws -> [Row] {
    let plain = try GuestImage.kernel(), instrumented = try GuestImage.coverageKernel()
    let clock = ContinuousClock()
    func boot(_ kernel: [UInt8]) throws -> Double {
        nanoseconds(try clock.measure {
            let guest = try LiveGuest(kernel: kernel)
            _ = try guest.boot()
            guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
        })
    }
    /// A booted guest of each kind, for the calls measured one by one.
    func booted(_ kernel: [UInt8]) throws -> LiveGuest {
        let guest = try LiveGuest(kernel: kernel)
        _ = try guest.boot()
        return guest
    }
    func time(_ body: () throws -> Void) throws -> Double { nanoseconds(try clock.measure(body)) }

    var boots: ([Double], [Double]) = ([], [])
    _ = try boot(plain)
    _ = try boot(instrumented)
    for _ in 0..<runs {
        boots.0.append(try boot(plain))
        boots.1.append(try boot(instrumented))
    }
    let guests = (try booted(plain), try booted(instrumented))
    var programs: ([Double], [Double]) = ([], [])
    var checks: ([Double], [Double]) = ([], [])
    for _ in 0..<max(runs / 4, 3) {
        for (guest, index) in [(guests.0, 0), (guests.1, 1)] {
            let program = try time {
                let run = try guest.runProgram("touch-bench", reportFaults: false, timeout: .seconds(120))
                guard run.reallocations == 256 else { throw BenchmarkError("touch-bench faulted \(run.reallocations) times") }
            }
            let check = try time { _ = try guest.call(RunAccessChecks(first: 0, count: RunAccessChecks.limit), timeout: .seconds(120)) }
            if index == 0 { programs.0.append(program); checks.0.append(check) } else { programs.1.append(program); checks.1.append(check) }
        }
    }
    _ = try guests.0.shutdown()
    _ = try guests.1.shutdown()
    func row(_ what: String, _ samples: ([Double], [Double])) -> Row {
        let (base, ours) = (median(samples.0), median(samples.1))
        return Row(measurement: "coverage kernel: \(what) (median of \(samples.0.count))", figure: formatTime(ours),
                   baseline: "guest.elf " + formatTime(base), ratio: times(ours / base) + " slower")
    }
    return [row("boot to ready", boots), row("touch-bench, 256 demand faults", programs), row("\(RunAccessChecks.limit) access checks", checks)]
}
