import GuestImage
import GuestProtocol
import KVMHost

/// The frame allocator's worst case at 99% full in a live 64 GiB guest
/// (`MeasureFrameSearch`), against a linear scan of the same bitmap in the
/// same kernel. The guest counts TSC cycles; the host turns them into time
/// by the call's wall time over its cycles (the call's round trip, about
/// 0.5 ms, is under 1% of a call that fills and empties 16.7M frames).
func liveFrameSearch(runs: Int) throws -> [Row] {
    let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 64 << 30))
    _ = try guest.boot(timeout: .seconds(60))
    let clock = ContinuousClock()
    var nextFit: [Double] = [], linearScan: [Double] = []
    var last: MeasureFrameSearch.Reply?
    for _ in 0..<runs {
        var reply: MeasureFrameSearch.Reply?
        let wall = nanoseconds(try clock.measure { reply = try guest.call(MeasureFrameSearch(), timeout: .seconds(120)) })
        guard let reply, reply.nextFitFrame == reply.linearScanFrame, reply.totalCycles > 0 else {
            throw BenchmarkError("the two searches found different frames: \(String(describing: reply))")
        }
        let perCycle = wall / Double(reply.totalCycles)
        nextFit.append(Double(reply.nextFitCycles) * perCycle)
        linearScan.append(Double(reply.linearScanCycles) * perCycle)
        last = reply
    }
    guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
    let frames = last.map { String(format: "%.1fM frames, %.2fM free", Double($0.usableFrames) / 1e6, Double($0.freeFrames) / 1e6) } ?? ""
    return [
        Row(measurement: "frame allocation, worst case at 99% full, 64 GiB live guest, \(frames) (median of \(runs))",
            figure: formatTime(median(nextFit)), baseline: "linear scan, same kernel " + formatTime(median(linearScan)),
            ratio: times(median(linearScan) / median(nextFit)) + " faster"),
    ]
}
