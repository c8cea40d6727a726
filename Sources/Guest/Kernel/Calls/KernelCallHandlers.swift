// The kernel's side of the calls about itself.

extension Echo {
    public func perform() throws(CallError) -> WordList { values }
}

extension RaiseException {
    /// The exception another CPU is to raise (its work's argument cannot hold one).
    nonisolated(unsafe) static var pending = Exception.divideError

    /// Returns only for a page fault at an address that turned out readable.
    public func perform() throws(CallError) -> Done {
        guard cpu < UInt64(CPUs.count) else { throw .needsSeveralCPUs(online: UInt64(CPUs.count)) }
        if cpu != 0 {
            Self.pending = exception
            CPUs.post(.raiseException, to: Int(cpu))
            _ = CPUs.result(of: Int(cpu))
            return Done()
        }
        Self.raise(exception)
        return Done()
    }

    static func raise(_ exception: Exception) {
        switch exception {
        case .divideError: cpu_raise_divide_error()
        case .breakpoint: cpu_raise_breakpoint()
        case .invalidOpcode: cpu_raise_invalid_opcode()
        case .generalProtection: cpu_raise_general_protection()
        case .pageFault(let address): _ = cpu_read_byte(UInt(truncatingIfNeeded: address))
        }
    }
}

extension Spin {
    public func perform() throws(CallError) -> Done {
        cpu_spin_forever()
        return Done()  // never reached: nothing stops the loop but the host
    }
}

extension AssertEqual {
    public func perform() throws(CallError) -> Done {
        guestAssert(first == second, "first == second", first, second)
        return Done()
    }
}

extension Shutdown {
    public func perform() throws(CallError) -> Done { exitGuest(status) }
}

extension ExerciseHeap {
    public func perform() throws(CallError) -> Reply {
        guard count <= Self.limit else { throw .tooMany(requested: count, limit: Self.limit) }
        let before = KernelHeap.bytesInUse
        let result = HeapExercise.run(count: Int(count))
        return Reply(checksum: result.checksum, bytesInUseBefore: UInt64(before),
                     peakBytesInUse: UInt64(result.peakBytesInUse), bytesInUseAfter: UInt64(KernelHeap.bytesInUse))
    }
}

extension RunMonitor {
    public func perform() throws(CallError) -> Done {
        Monitor.run()
        return Done()
    }
}
