// Kernel-mode access checks against the real MMU, in the manner of
// kvm-unit-tests' x86/access.c: in the scratch space, the target's leaf and
// PD entry get each combination of present, writable, no-execute and user;
// CR0.WP and EFLAGS.AC are set or cleared; then one probe reads, writes or
// fetches it. A fault is caught by the page-fault path (the probe is armed)
// and recorded with its error code, and the accessed and dirty bits are
// read back, so the host can compare what the MMU did with what
// `AccessCheck.predictedFault` and `AccessedDirty` say.

enum AccessProbe {
    /// The address a probe is about to touch; 0 when no probe is armed.
    static var target: UInt64 = 0
    static var faulted = false
    static var errorCode: UInt64 = 0

    /// Called for every page fault: true when it was an armed probe's, after
    /// pointing the frame at the probe's resume point.
    static func recover(_ frame: UnsafeMutablePointer<trap_frame>, faultAddress: UInt64) -> Bool {
        guard target != 0, faultAddress == target else { return false }
        let probes = probe_layout_get()!.pointee
        let rip = frame.pointee.rip
        if rip == probes.read_access || rip == probes.write_access {
            frame.pointee.rip = probes.resume
        } else if UInt64(rip) == target {
            // A fetch faults at the target itself; return to probe_fetch's caller
            // through probe_resume, dropping the return address `call` pushed.
            frame.pointee.rsp += 8
            frame.pointee.rip = probes.resume
        } else {
            return false
        }
        faulted = true
        errorCode = UInt64(frame.pointee.error_code)
        return true
    }

    /// One access to `address` from ring 0 under CR0.WP and EFLAGS.AC as
    /// given: its fault's error code, nil when it was allowed.
    static func touch(_ address: UInt64, _ access: AccessKind, writeProtect: Bool, alignmentCheckFlag: Bool) -> UInt64? {
        let cr0 = cpu_read_cr0()
        let wp: UInt = 1 << 16
        cpu_write_cr0(writeProtect ? cr0 | wp : cr0 & ~wp)
        faulted = false
        target = address
        cpu_set_alignment_check(alignmentCheckFlag ? 1 : 0)
        TLBChecker.check(.kernelAccess)
        switch access {
        case .read: _ = probe_read(UInt(address))
        case .write: _ = probe_write(UInt(address))
        case .fetch: _ = probe_fetch(UInt(address))
        }
        cpu_set_alignment_check(0)
        target = 0
        cpu_write_cr0(cr0)
        return faulted ? errorCode : nil
    }
}

enum AccessChecks {
    static func run(first: UInt64, count: UInt64) throws(CallError) -> AccessCheckResults {
        let range = try AccessCheckSpace.range(first: first, count: count, total: AccessCheck.count)
        var space = try AccessCheckSpace()
        defer { space.tearDown() }
        return space.outcomes(of: range) { index in
            let check = AccessCheck(index: index)
            space.set(parent: check.parent, leaf: check.leaf)
            return (AccessProbe.touch(AccessCheckSpace.target, check.access, writeProtect: check.writeProtect,
                                      alignmentCheckFlag: check.alignmentCheckFlag), 1)
        }
    }
}
