import GuestProtocol

/// Running user programs takes more than one call: finding a program by name,
/// or placing an image the host supplies in guest memory first.
extension LiveGuest {
    /// The built-in programs, by name, in the guest's order.
    public func programNames(timeout: Duration = LiveGuest.defaultTimeout) throws -> [String] {
        try call(ListPrograms(), timeout: timeout).map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    /// Runs built-in program `name` in a process of its own, to its exit or
    /// fault, with `threads` threads (one a CPU, at most the guest's CPUs).
    public func runProgram(_ name: String, reportFaults: Bool = true, threads: Int = 1,
                           timeout: Duration = LiveGuest.defaultTimeout) throws -> ProgramRun {
        let deadline = Deadline(after: timeout)
        let names = try call(ListPrograms(), deadline: deadline).map { String(decoding: $0.bytes, as: UTF8.self) }
        guard let index = names.firstIndex(of: name) else {
            throw ProgramNotFound(name: name)
        }
        return try call(RunProgram(index: UInt64(index), reportFaults: reportFaults, threads: UInt64(max(threads, 0))), deadline: deadline)
    }

    /// Runs a program image the host supplies (an ELF64 linked at 0x0): it is
    /// written into a buffer the guest sets aside, after a bounds check.
    public func runProgram(image: [UInt8], reportFaults: Bool = true,
                           timeout: Duration = LiveGuest.defaultTimeout) throws -> ProgramRun {
        let deadline = Deadline(after: timeout)
        let buffer = try call(ReserveProgramBuffer(bytes: UInt64(image.count)), deadline: deadline)
        try memory.write(image, at: buffer)
        return try call(RunProgramImage(physical: buffer, bytes: UInt64(image.count), reportFaults: reportFaults),
                    deadline: deadline)
    }
}

/// No built-in program has this name.
public struct ProgramNotFound: Error, Equatable, CustomStringConvertible {
    public var name: String
    public var description: String { "the guest has no built-in program named \(name)" }
}
