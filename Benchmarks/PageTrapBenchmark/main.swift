// The page trap's costs in one guest run:
//
//     swift run -c release page-trap-benchmark
//
// A demand-paging fault (take a frame, map it, resume) with a known-zero frame
// and with a frame that needs zeroing, next to an empty exception round trip
// from user mode (int3; the handler only returns), which is the limit here,
// and an empty page-fault round trip (the kernel skips the instruction).
// Each program does 256 of one thing; the kernel counts the time-stamp
// cycles the program spends in ring 3 (its traps included, the building and
// tearing down of its process not), less those of an empty program. Cycles
// become microseconds by the host's wall-clock time of the int3 program.

import Foundation
import GuestImage
import KVMHost

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

guard KVM.deviceExists() else {
    print("page-trap-benchmark needs /dev/kvm")
    exit(1)
}
let guest = try LiveGuest(kernel: GuestImage.kernel())
_ = try guest.boot()
let names = try guest.programNames()

@MainActor
func cycles(_ program: String, skippingFaults: Bool = false) throws -> (cycles: Double, run: ProgramRun, wall: Double) {
    let start = ContinuousClock.now
    let run: ProgramRun
    if skippingFaults {
        run = try ProgramRun(reply: guest.execute(.runSkippingFaults(index: UInt64(names.firstIndex(of: program)!)),
                                                  timeout: .seconds(120)))
    } else {
        run = try guest.runProgram(program, reportFaults: false, timeout: .seconds(120))
    }
    let wall = ContinuousClock.now - start
    return (Double(run.userCycles), run, Double(wall.components.seconds) * 1e6 + Double(wall.components.attoseconds) / 1e12)
}

var empty: [Double] = [], breakpoints: [Double] = [], nullFaults: [Double] = [], knownZero: [Double] = [], dirty: [Double] = []
var emptyWall: [Double] = [], breakpointWall: [Double] = []
for _ in 0..<5 {
    let nothing = try cycles("empty")
    empty.append(nothing.cycles)
    emptyWall.append(nothing.wall)
    let int3 = try cycles("int3-bench")
    precondition(int3.run.breakpoints == 256)
    breakpoints.append(int3.cycles)
    breakpointWall.append(int3.wall)
    nullFaults.append(try cycles("fault-bench", skippingFaults: true).cycles)
    // Frames never handed out since boot are known zero: point the
    // allocator past everything handed out so far.
    _ = try guest.execute(.restartFrameSearch(fresh: true))
    let fresh = try cycles("touch-bench")
    precondition(fresh.run.reallocations == 256)
    knownZero.append(fresh.cycles)
}
// Frames handed out before need zeroing: point the allocator back at them.
for _ in 0..<5 {
    _ = try guest.execute(.restartFrameSearch(fresh: false))
    let used = try cycles("touch-bench")
    precondition(used.run.reallocations == 256)
    dirty.append(used.cycles)
}

let base = median(empty)
func perOperation(_ values: [Double]) -> Double { (median(values) - base) / 256 }
let roundTrip = perOperation(breakpoints)
// The int3 program's wall time, less the empty program's, is 256 round trips.
let microsecondsPerCycle = (median(breakpointWall) - median(emptyWall)) / 256 / roundTrip
func line(_ name: String, _ values: [Double], _ note: String = "") -> String {
    let cost = perOperation(values)
    return "  " + name.padding(toLength: 40, withPad: " ", startingAt: 0)
        + String(format: "%9.0f cycles %8.1f us  %4.1fx", cost, cost * microsecondsPerCycle, cost / roundTrip) + note
}
print("page trap, per operation from user mode (256 a program, median of 5 runs; x = times the int3 round trip):")
print(line("empty exception round trip (int3)", breakpoints, "  <- the limit here"))
print(line("empty page-fault round trip", nullFaults))
print(line("demand fault, known-zero frame", knownZero, "  (target: at most 2x)"))
print(line("demand fault, frame that needs zeroing", dirty))
