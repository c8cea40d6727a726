// A reader on another CPU of a page the boot CPU then unmaps: what a TLB
// shootdown must make fault at once (CheckRemoteShootdown). The reader
// reads from ring 0 with the access probe (Assembly/probes.S), whose fault
// its own trap recovers; it counts every read that succeeded after the
// boot CPU said the unmap, shootdown included, had returned: each is a
// translation the shootdown should have dropped.

enum RemoteReader {
    /// Shared with the reading CPU: 1 once the unmap returned; the reads so far.
    private static let shared: UnsafeMutablePointer<UInt> = {
        let words = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        words.initialize(repeating: 0, count: 2)
        return words
    }()
    private static var unmapped: UnsafeMutablePointer<UInt> { shared }
    private static var reads: UnsafeMutablePointer<UInt> { shared + 1 }

    /// On the reading CPU, as its work: reads `address` in the kernel's
    /// address space until a read faults or `staleReadLimit` stale reads.
    /// Returns the stale reads.
    static func read(_ address: UInt64, _ area: UnsafeMutablePointer<cpu_local>) -> UInt64 {
        TLB.loadOnThisCPU(KernelAddressSpace.pagemap.root.address)
        var stale: UInt64 = 0
        while stale < CheckRemoteShootdown.staleReadLimit {
            let after = cpu_atomic_load(unmapped)
            if probe_read(UInt(address)) != 0 { break }
            _ = cpu_atomic_fetch_add(reads, 1)
            if after != 0 { stale += 1 }
        }
        TLB.loadOnThisCPU(CPUs.idleRoot)
        return stale
    }

    /// The reading CPU's fault on its page: resumes its probe as faulted.
    static func recover(_ frame: UnsafeMutablePointer<trap_frame>, faultAddress: UInt64) -> Bool {
        let area = CPUs.current
        guard area.pointee.index != 0, area.pointee.work == CPUWork.readUntilFault.rawValue,
              faultAddress == UInt64(area.pointee.work_argument),
              frame.pointee.rip == probe_layout_get()!.pointee.read_access else { return false }
        frame.pointee.rip = probe_layout_get()!.pointee.resume
        return true
    }

    /// How long the boot CPU waits for the reader's first read: about 4 s
    /// at 2.5 GHz.
    private static let firstReadCycles: UInt64 = 10_000_000_000

    /// On the boot CPU: one round on CPU 1. Returns its reads before the
    /// unmap and its stale reads after.
    static func round() throws(CallError) -> (before: UInt64, stale: UInt64) {
        let page = Page(startingAt: CheckRemoteShootdown.page)!
        guard let frame = PhysicalMemory.frames.allocate() else { throw .outOfFrames }
        do throws(MapError) {
            try KernelAddressSpace.pagemap.map(page, to: frame, flags: [.writable, .noExecute], frames: &PhysicalMemory.frames)
                .flush { TLB.invalidate($0, at: .remoteReaderUnmap) }
        } catch {
            PhysicalMemory.free(frame)
            throw .map(error)
        }
        cpu_atomic_store(unmapped, 0)
        cpu_atomic_store(reads, 0)
        CPUs.post(.readUntilFault, argument: page.start.raw, to: 1)
        let started = cpu_rdtsc()
        while cpu_atomic_load(reads) == 0 {
            guard UInt64(cpu_rdtsc() &- started) < firstReadCycles else { kernelPanic("CPU 1 never read its page", page.start.raw) }
            cpu_pause()
        }
        do throws(UnmapError) {
            try KernelAddressSpace.pagemap.unmap(page, frames: &PhysicalMemory.frames)
                .flush { TLB.invalidate($0, at: .remoteReaderUnmap) }
        } catch {
            kernelPanic("cannot unmap the remote reader's page", page.start.raw)
        }
        let before = UInt64(cpu_atomic_load(reads))
        cpu_atomic_store(unmapped, 1)
        let stale = CPUs.result(of: 1)
        // Freed only now: while CPU 1 could still read it, it was not free.
        PhysicalMemory.free(frame)
        return (before, stale)
    }
}
