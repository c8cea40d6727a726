import KVMHost

/// One boot-run-destroy cycle of a live guest, for the stress runs and the
/// resource tests, which check that thousands of them leave nothing behind.
public enum StressCycle {
    /// One VM's life, `index` choosing how it ends: three in four boot, run
    /// a program with ten demand faults and shut down; the fourth fails on
    /// purpose (a kernel exception, a runaway loop stopped by the watchdog,
    /// a failed guest assertion), so that failure paths are stressed too.
    public static func run(_ kernel: [UInt8], index: Int) throws {
        let guest = try LiveGuest(kernel: kernel)
        _ = try guest.boot()
        guard index % 4 == 3 else {
            let run = try guest.runProgram("lazy-touch")
            guard run.outcome == .exited(status: 0), run.freeFramesAfter == run.freeFramesBefore else {
                throw StressFailure(description: "lazy-touch ended \(run.outcome), \(run.freeFramesBefore) free frames before, \(run.freeFramesAfter) after")
            }
            let status = try guest.shutdown()
            guard status == 0 else { throw StressFailure(description: "the guest exited with \(status)") }
            return
        }
        let (command, expected): (any GuestCall, String) = switch (index / 4) % 3 {
        case 0: (RaiseException(.pageFault(address: 0xDEAD_0000)), "exception")
        case 1: (Spin(), "timeout")
        default: (AssertEqual(1, 2), "assertion")
        }
        do {
            _ = try guest.call(command, timeout: .milliseconds(50))
            throw StressFailure(description: "\(command) did not fail")
        } catch let failure as GuestFailure {
            let kind = switch failure.kind {
            case .exception: "exception"
            case .timeout: "timeout"
            case .assertion: "assertion"
            default: "\(failure.kind)"
            }
            guard kind == expected else { throw StressFailure(description: "\(command) ended in \(failure.summary)") }
        }
    }
}

public struct StressFailure: Error, CustomStringConvertible {
    public var description: String
}
