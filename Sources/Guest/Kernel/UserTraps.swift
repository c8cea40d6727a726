// Traps taken from ring 3: the page trap, system calls, and every other
// exception a process can cause. A process's fault never stops the kernel:
// the process is killed, its outcome recorded, and user_leave returns to the
// kernel code that started it.

enum UserTraps {
    /// With several threads, under the process's lock, which every way out
    /// of a trap releases: a return to the thread, `kill` and the exit
    /// system call. A process of one thread has nothing to race with (the
    /// thread count holds for the whole run), and its traps are the hot path.
    static func handle(_ frame: UnsafeMutablePointer<trap_frame>, cr2: UInt64) {
        guard CurrentProcess.threads > 1 else { return dispatch(frame, cr2: cr2) }
        CurrentProcess.lock.acquire()
        // Another thread killed the process while this one waited: it ends too.
        if CurrentProcess.killed { leave(1) }
        dispatch(frame, cr2: cr2)
        CurrentProcess.lock.release()
    }

    /// Ends this thread: the lock released (if it was taken), back to the
    /// kernel code that started it.
    static func leave(_ value: UInt) -> Never {
        if CurrentProcess.threads > 1 { CurrentProcess.lock.release() }
        user_leave(value)
    }

    private static func dispatch(_ frame: UnsafeMutablePointer<trap_frame>, cr2: UInt64) {
        switch frame.pointee.vector {
        case 14:
            pageFault(frame, address: cr2)
        case 128:
            Syscalls.dispatch(frame)
        case 6 where isInt80(at: UInt64(frame.pointee.rip)):
            // This KVM raises #UD at `int $0x80` from ring 3 instead of using
            // the gate; step over the two bytes and take it as the system call.
            frame.pointee.rip += 2
            Syscalls.dispatch(frame)
        case 3:
            CurrentProcess.breakpoints += 1  // an empty round trip: resume after the int3
        default:
            kill(.exception, address: 0, frame)
        }
    }

    private static func pageFault(_ frame: UnsafeMutablePointer<trap_frame>, address: UInt64) {
        let errorCode = UInt64(frame.pointee.error_code)
        if UserAccessChecks.active { UserAccessChecks.recordFault(errorCode) }
        if CurrentProcess.skipFaults {
            // The empty page-fault round trip: no decision, no mapping.
            CurrentProcess.breakpoints += 1
            frame.pointee.rip += 2
            return
        }
        // Another thread may have mapped the page while this one waited for
        // the lock: a fault on a page not present that is present now is
        // done (the access is tried again, and faults anew if it is not allowed).
        if errorCode & UInt64(PF_PROTECTION) == 0, let virtual = VirtualAddress(address),
           CurrentProcess.pagemap.translate(virtual) != nil {
            return
        }
        let decision = PageTrap.decide(address: address, errorCode: errorCode, space: CurrentProcess.space,
                                       userLimit: ProcessRunner.userLimit)
        switch decision {
        case .reallocate(let flags):
            guard let (taken, mustZero) = PhysicalMemory.frames.allocateTrackingZero() else {
                report(address, errorCode, frame, reason: .outOfMemory)
                kill(.outOfMemory, address: address, frame)
            }
            if mustZero { ProcessRunner.zeroFrame(taken) }
            do {
                // The entry was not present, and x86 caches no translation for
                // a page that is not present; a table entry widened above it
                // was dropped by the fault itself. Nothing to invalidate (invlpg
                // would cost a good part of the fault in this emulated ring 0).
                try CurrentProcess.pagemap.map(Page(containing: VirtualAddress(address)!), to: taken, flags: flags,
                                               frames: &PhysicalMemory.frames).ignore()
                TLB.pageFaultInvalidated(address)
            } catch {
                PhysicalMemory.free(taken)
                report(address, errorCode, frame, reason: .outOfMemory)
                kill(.outOfMemory, address: address, frame)
            }
            CurrentProcess.reallocations += 1
            // The fast path's state is one CPU's: a process of several threads goes without.
            if CurrentProcess.threads == 1, let reservation = CurrentProcess.space.reservation(containing: address) {
                FastFaults.arm(for: reservation, faultAddress: address)
            }
            if CurrentProcess.reportFaults {
                report(address, errorCode, frame, reason: nil)
            } else {
                RecentFaults.record(address: address, errorCode: errorCode, reason: nil)
            }
        case .faultProcess(let reason):
            report(address, errorCode, frame, reason: reason)
            kill(reason, address: address, frame)
        case .panic:
            kernelPanic("page trap: kernel-mode fault while a process ran", address)
        }
    }

    private static func report(_ address: UInt64, _ errorCode: UInt64, _ frame: UnsafeMutablePointer<trap_frame>,
                               reason: FaultReason?) {
        RecentFaults.record(address: address, errorCode: errorCode, reason: reason)
        let decision = PageTrapRecord(address: address, errorCode: errorCode, rip: UInt64(frame.pointee.rip), faultReason: reason)
        ReportChannel.send(kind: RecordKind.pageTrap) { record in record.encode(decision) }
    }

    /// Ends the process with a fault and returns to the kernel: this thread
    /// at once, the others by an IPI (PROCESS_VECTOR) that finds them in ring 3.
    static func kill(_ reason: FaultReason, address: UInt64, _ frame: UnsafeMutablePointer<trap_frame>) -> Never {
        CurrentProcess.killed = true
        CurrentProcess.reason = reason
        CurrentProcess.faultAddress = address
        CurrentProcess.faultRip = UInt64(frame.pointee.rip)
        CurrentProcess.faultVector = UInt64(frame.pointee.vector)
        CurrentProcess.faultThread = UInt64(CPUs.current.pointee.index)
        let me = Int(CPUs.current.pointee.index)
        for thread in 0..<CurrentProcess.threads where thread != me {
            LocalAPIC.interrupt(UInt64(CPUs.area(thread).pointee.apic_id), vector: UInt32(PROCESS_VECTOR))
        }
        leave(1)
    }

    /// The process vector's IPI: a thread of a killed process, caught in ring 3, ends.
    static func processInterrupt(_ frame: UnsafeMutablePointer<trap_frame>) {
        LocalAPIC.acknowledge()
        if frame.pointee.cs & 3 == 3 && CurrentProcess.killed { user_leave(1) }
    }

    /// True when the user bytes at `rip` are `int $0x80` (CD 80).
    private static func isInt80(at rip: UInt64) -> Bool {
        guard let first = userByte(rip), let second = userByte(rip + 1) else { return false }
        return first == 0xCD && second == 0x80
    }

    /// A byte of the process's memory, read through the direct map after a
    /// walk, so that a bad address cannot fault in the kernel.
    static func userByte(_ address: UInt64) -> UInt8? {
        guard let virtual = VirtualAddress(address), let translation = CurrentProcess.pagemap.translate(virtual),
              translation.flags.contains(.user) else { return nil }
        return KernelLayout.directMap(translation.physical).load(as: UInt8.self)
    }
}

/// The last page-trap decisions, for the monitor's `faults`.
enum RecentFaults {
    /// A variable, not a constant, so that it is in guest memory for the gdb helpers (`kernel faults`).
    private(set) static var capacity = 8
    private static var addresses = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity * 3)
    private(set) static var total = 0

    static func record(address: UInt64, errorCode: UInt64, reason: FaultReason?) {
        let slot = (total % capacity) * 3
        addresses[slot] = address
        addresses[slot + 1] = errorCode
        addresses[slot + 2] = reason?.rawValue ?? 0
        total += 1
    }

    /// Entry `age` back (0 = the newest): address, error code, and the
    /// reason the process was faulted (nil: reallocated).
    static func entry(_ age: Int) -> (address: UInt64, errorCode: UInt64, reason: FaultReason?) {
        let slot = ((total - 1 - age) % capacity) * 3
        return (addresses[slot], addresses[slot + 1], FaultReason(rawValue: addresses[slot + 2]))
    }
}
