// Kernel-mode access checks against the real MMU. A scratch page in the
// kernel region gets each combination of present, writable and no-execute on
// its leaf and its PD entry; CR0.WP is set or cleared; then one probe reads,
// writes or fetches it. A fault is caught by the page-fault path (the probe
// is armed) and recorded with its error code, so the host can compare what
// the MMU did with what `AccessCheck.predictedFault` says.

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
}

enum AccessChecks {
    /// PML4 255, PDPT 509: a corner of the kernel region nothing else uses.
    static let scratch: UInt64 = 0x0000_7FFF_4000_0000

    /// Sets the scratch page's PD and PT entries, then drops every cached
    /// translation: a changed parent entry needs more than an invlpg.
    private static func setFlags(parent: PageTableFlags, leaf: PageTableFlags, of address: VirtualAddress) {
        guard let parentFlush = KernelAddressSpace.pagemap.setFlags(parent, level: 2, of: address),
              let leafFlush = KernelAddressSpace.pagemap.setFlags(leaf, level: 1, of: address) else {
            kernelPanic("access checks: the scratch page's tables are gone", address.raw)
        }
        leafFlush.ignore()  // covered by the reload below
        parentFlush.flushAll { cpu_write_cr3(cpu_read_cr3()) }
    }

    /// Runs every combination; one byte each: 0x80 | error code when the
    /// access faulted, 0 when it did not.
    static func run() throws(CallError) -> WireBytes {
        guard let frame = PhysicalMemory.frames.allocate() else { throw .outOfFrames }
        KernelLayout.directMap(frame.address).storeBytes(of: 0xC3, as: UInt8.self)  // ret
        let page = Page(startingAt: scratch)!
        let address = VirtualAddress(scratch)!
        do {
            try KernelAddressSpace.pagemap.map(page, to: frame, flags: [.writable], frames: &PhysicalMemory.frames)
                .flush { cpu_invlpg(UInt($0)) }
        } catch {
            PhysicalMemory.free(frame)
            throw .map(error)
        }
        let cr0 = cpu_read_cr0()
        let cr3 = cpu_read_cr3()
        let writeProtect: UInt = 1 << 16
        var results = [UInt8](repeating: 0, count: AccessCheck.count)
        do {
            for index in 0..<AccessCheck.count {
                let check = AccessCheck(index: index)
                setFlags(parent: check.parent, leaf: check.leaf, of: address)
                cpu_write_cr0(check.writeProtect ? cr0 | writeProtect : cr0 & ~writeProtect)
                AccessProbe.faulted = false
                AccessProbe.target = scratch
                switch check.access {
                case .read: _ = probe_read(UInt(scratch))
                case .write: _ = probe_write(UInt(scratch))
                case .fetch: _ = probe_fetch(UInt(scratch))
                }
                AccessProbe.target = 0
                cpu_write_cr0(cr0)
                results[index] = AccessProbe.faulted ? 0x80 | UInt8(truncatingIfNeeded: AccessProbe.errorCode & 0x1F) : 0
            }
        }
        // Leave the scratch page as the Pagemap expects it, then take it away.
        setFlags(parent: [.present, .writable], leaf: [.present, .writable], of: address)
        do throws(UnmapError) {
            try KernelAddressSpace.pagemap.unmap(page, frames: &PhysicalMemory.frames).flush { cpu_invlpg(UInt($0)) }
        } catch {
            kernelPanic("access checks: the scratch page cannot be unmapped", scratch)
        }
        PhysicalMemory.free(frame)
        return WireBytes(results)
    }
}
