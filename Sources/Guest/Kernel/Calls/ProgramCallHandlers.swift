// The kernel's side of the calls that run user programs.

extension ListPrograms {
    public func perform() throws(CallError) -> [WireBytes] {
        var names: [WireBytes] = []
        for index in 0..<ProcessRunner.programCount() {
            names.append(WireBytes([UInt8](ProcessRunner.program(index).name)))
        }
        return names
    }
}

extension RunProgram {
    public func perform() throws(CallError) -> ProgramRun {
        guard index < UInt64(ProcessRunner.programCount()) else { throw .noSuchProgram(index: index) }
        guard threads <= UInt64(CPUs.count) else { throw .needsSeveralCPUs(online: UInt64(CPUs.count)) }
        guard ProcessRunner.run(Int(index), reportFaults: reportFaults, threads: Int(threads)) else { throw .imageRefused }
        return ProcessRunner.outcome()
    }
}

extension RunProgramSkippingFaults {
    public func perform() throws(CallError) -> ProgramRun {
        guard index < UInt64(ProcessRunner.programCount()) else { throw .noSuchProgram(index: index) }
        CurrentProcess.skipFaults = true
        defer { CurrentProcess.skipFaults = false }
        guard ProcessRunner.run(Int(index), reportFaults: false) else { throw .imageRefused }
        return ProcessRunner.outcome()
    }
}

extension ReserveProgramBuffer {
    public func perform() throws(CallError) -> UInt64 {
        let limit = ProcessRunner.hostBufferPageLimit * pageSize
        guard bytes <= limit else { throw .tooMany(requested: bytes, limit: limit) }
        guard let physical = ProcessRunner.reserveHostBuffer(bytes: bytes) else { throw .outOfFrames }
        return physical
    }
}

extension RunProgramImage {
    public func perform() throws(CallError) -> ProgramRun {
        guard ProcessRunner.runHostImage(physical: physical, bytes: bytes, reportFaults: reportFaults) else { throw .imageRefused }
        return ProcessRunner.outcome()
    }
}
