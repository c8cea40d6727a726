import GuestImage
import KVMHost

/// What one call costs, from `guest.call` to its typed reply: Echo with no
/// words and with 32 (the protocol's whole path: the command written, the
/// kernel decoding, running and encoding, the reply read and decoded),
/// against the cheapest trip into the kernel and back, a ring-3 int3 (the
/// int3-bench program's wall time less the empty program's, per int3).
func callRoundTrip(calls: Int) throws -> [Row] {
    let guest = try LiveGuest(kernel: GuestImage.kernel())
    _ = try guest.boot()
    let clock = ContinuousClock()
    func measure(_ words: [UInt64]) throws -> Double {
        var samples: [Double] = []
        for _ in 0..<calls {
            samples.append(nanoseconds(try clock.measure {
                guard try guest.call(Echo(words)).values == words else { throw BenchmarkError("Echo did not echo") }
            }))
        }
        return median(samples)
    }
    _ = try measure([])
    let empty = try measure([])
    let full = try measure((0..<32).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 })
    var emptyWall: [Double] = [], breakpointWall: [Double] = []
    for _ in 0..<5 {
        emptyWall.append(nanoseconds(try clock.measure { _ = try guest.runProgram("empty", reportFaults: false) }))
        breakpointWall.append(nanoseconds(try clock.measure {
            guard try guest.runProgram("int3-bench", reportFaults: false).breakpoints == 256 else {
                throw BenchmarkError("int3-bench took the wrong number of breakpoints")
            }
        }))
    }
    _ = try guest.shutdown()
    let roundTrip = (median(breakpointWall) - median(emptyWall)) / 256
    let baseline = "int3 round trip " + formatTime(roundTrip)
    return [
        Row(measurement: "call round trip, Echo of no words (median of \(calls))", figure: formatTime(empty),
            baseline: baseline, ratio: times(empty / roundTrip) + " the round trip"),
        Row(measurement: "call round trip, Echo of 32 words (median of \(calls))", figure: formatTime(full),
            baseline: baseline, ratio: times(full / roundTrip) + " the round trip"),
    ]
}
