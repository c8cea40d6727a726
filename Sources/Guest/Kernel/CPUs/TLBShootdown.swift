// TLB shootdowns: a page-table change in an address space that other CPUs
// have loaded must leave their TLBs too. The CPU that changed it flushes
// its own TLB (TLB.swift), then asks every other CPU whose CR3 holds the
// same root, by an IPI (SHOOTDOWN_VECTOR), to flush the same pages, and
// waits until each has acknowledged: only then is the old translation gone
// everywhere, and only then may its frame be reused. One shootdown is in
// flight at a time. A CPU waiting to send one serves a request aimed at it
// meanwhile, so that two CPUs shooting at each other do not wait forever
// with interrupts off. CPUs idle on a root of their own (kernel region
// only: `CPUs.idleRoot`), so an address space's changes do not interrupt them.

enum TLBShootdown {
    /// Above this many pages a shootdown reloads CR3 instead (Linux's
    /// tlb_single_page_flush_ceiling is 33).
    static let pageCeiling: UInt64 = 32

    private static let request: UnsafeMutablePointer<tlb_shootdown> = {
        let request = UnsafeMutablePointer<tlb_shootdown>.allocate(capacity: 1)
        request.initialize(to: tlb_shootdown(root: 0, start: 0, count: 0, pending: 0, busy: 0))
        return request
    }()

    /// Shootdowns this CPU sent and IPIs it sent for them, since boot (the boot CPU's view).
    private(set) static var sent: UInt64 = 0
    private(set) static var interrupts: UInt64 = 0

    /// Every other online CPU with `root` loaded flushes `count` pages from
    /// `start` (0: every translation); returns once all have.
    static func send(root: UInt64, start: UInt64, count: UInt64) {
        guard CPUs.count > 1 else { return }
        let me = CPUs.current
        while cpu_atomic_compare_exchange(&request.pointee.busy, 0, 1) == 0 {
            serve(me)
            cpu_pause()
        }
        request.pointee.root = UInt(root)
        request.pointee.start = UInt(start)
        request.pointee.count = UInt(count)
        // The targets, read once: a CPU counted here is the CPU interrupted
        // below, even if it leaves the address space in between (it then
        // only acknowledges). One that loads it after this read loads the
        // tables already written: it has nothing stale.
        var targets: UInt64 = 0
        for index in 0..<CPUs.count {
            let area = CPUs.area(index)
            if area != me, cpu_atomic_load(&area.pointee.loaded_root) == UInt(root) { targets |= 1 << UInt64(index) }
        }
        cpu_atomic_store(&request.pointee.pending, UInt(targets.nonzeroBitCount))
        if targets != 0 {
            sent &+= 1
            for index in 0..<CPUs.count where targets & (1 << UInt64(index)) != 0 {
                let area = CPUs.area(index)
                cpu_atomic_store(&area.pointee.shootdown_pending, 1)
                LocalAPIC.interrupt(UInt64(area.pointee.apic_id), vector: UInt32(SHOOTDOWN_VECTOR))
                interrupts &+= 1
            }
            while cpu_atomic_load(&request.pointee.pending) != 0 { cpu_pause() }
        }
        cpu_atomic_store(&request.pointee.busy, 0)
    }

    /// The IPI: flushes what the request names, if it concerns this CPU.
    static func receive() {
        LockValidator.enterInterrupt()
        serve(CPUs.current)
        LockValidator.leaveInterrupt()
        LocalAPIC.acknowledge()
    }

    /// For a CPU spinning with interrupts off (for a lock): a request aimed at it.
    static func serveWhileWaiting() {
        serve(CPUs.current)
    }

    /// A request aimed at `area`'s CPU, if one waits: its flush, then its acknowledgement.
    private static func serve(_ area: UnsafeMutablePointer<cpu_local>) {
        guard cpu_atomic_load(&area.pointee.shootdown_pending) != 0 else { return }
        cpu_atomic_store(&area.pointee.shootdown_pending, 0)
        let count = UInt64(request.pointee.count)
        if UInt64(area.pointee.loaded_root) == UInt64(request.pointee.root) {
            if count == 0 || count > pageCeiling {
                TLB.flushOnThisCPU()
            } else {
                for page in 0..<count { TLB.invalidateOnThisCPU(UInt64(request.pointee.start) + page * frameSize) }
            }
        }
        _ = cpu_atomic_fetch_sub(&request.pointee.pending, 1)
    }
}
