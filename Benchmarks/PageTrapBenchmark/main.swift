// The page trap's costs in one guest run:
//
//     swift run -c release page-trap-benchmark
//
// A demand-paging fault (take a frame, map it, resume) with a known-zero frame
// and with a frame that needs zeroing, next to an empty exception round trip
// from user mode (int3; the handler only returns), which is the limit here.
// Each figure is (time of a program doing 256 of them - time of an empty
// program) / 256, median of several runs, timed by the host. Also shown: an
// empty page-fault round trip (the kernel skips the faulting instruction),
// which is what a demand fault costs before the kernel does any work.

import Foundation
import GuestImage
import KVMHost

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

guard KVM.deviceExists() else {
    print("page-trap-benchmark needs /dev/kvm")
    exit(1)
}
let guest = try LiveGuest(kernel: GuestImage.kernel())
_ = try guest.boot()
let clock = ContinuousClock()

@MainActor
func time(_ program: String) throws -> (Double, ProgramRun) {
    var run: ProgramRun?
    let elapsed = try clock.measure { run = try guest.runProgram(program, reportFaults: false, timeout: .seconds(120)) }
    return (milliseconds(elapsed), run!)
}

@MainActor
func timeSkippingFaults(_ program: String) throws -> Double {
    let index = UInt64(try guest.programNames().firstIndex(of: program)!)
    let start = clock.now
    _ = try guest.execute(.runSkippingFaults(index: index), timeout: .seconds(120))
    return milliseconds(clock.now - start)
}

var empty: [Double] = [], breakpoints: [Double] = [], knownZero: [Double] = [], dirty: [Double] = [], nullFaults: [Double] = []
for _ in 0..<5 {
    nullFaults.append(try timeSkippingFaults("fault-bench"))
    empty.append(try time("empty").0)
    let (breakpointTime, breakpointRun) = try time("int3-bench")
    precondition(breakpointRun.breakpoints == 256)
    breakpoints.append(breakpointTime)
    // A fresh frame above everything handed out so far is known zero...
    let (freshTime, freshRun) = try time("touch-bench")
    precondition(freshRun.reallocations == 256)
    knownZero.append(freshTime)
}
// ...and frames handed out before (by the runs above) need zeroing: the
// allocator is pointed back at them before each of these runs.
for _ in 0..<5 {
    _ = try guest.execute(.restartFrameSearch)
    let (time, run) = try time("touch-bench")
    precondition(run.reallocations == 256)
    dirty.append(time)
}

let base = median(empty)
func perOperation(_ values: [Double]) -> Double { (median(values) - base) / 256 * 1000 }
print("page trap, per operation, from user mode (256 a program, median of 5, less an empty program of \(String(format: "%.2f", base)) ms):")
print(String(format: "  empty exception round trip (int3)       %8.1f us   <- the limit here", perOperation(breakpoints)))
print(String(format: "  empty page-fault round trip            %8.1f us   (a #PF the kernel only skips: %.1fx int3)",
             perOperation(nullFaults), perOperation(nullFaults) / perOperation(breakpoints)))
print(String(format: "  demand fault, known-zero frame          %8.1f us   (%.1fx the round trip; target at most 2x)",
             perOperation(knownZero), perOperation(knownZero) / perOperation(breakpoints)))
print(String(format: "  demand fault, frame that needs zeroing  %8.1f us", perOperation(dirty)))
