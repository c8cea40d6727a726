// A ticket spinlock: each CPU draws a ticket and waits until it is served,
// so CPUs take the lock in the order they asked and none starves. Taking
// it turns interrupts off (a holder interrupted by a handler that wants the
// same lock would wait for itself) and releasing puts them back as they
// were. A CPU waiting for a lock serves the TLB shootdowns aimed at it, so
// that a holder waiting for its acknowledgement does not wait forever.
// Every acquire and release goes past the lock validator (LockValidator).
// The lock's word lives on the heap, at one address for its life: a struct
// of these can be copied, and all copies are the one lock.

struct SpinLock {
    let lockClass: LockClass
    private let state: UnsafeMutablePointer<spin_lock>

    init(_ lockClass: LockClass) {
        self.lockClass = lockClass
        state = UnsafeMutablePointer<spin_lock>.allocate(capacity: 1)
        state.initialize(to: spin_lock(next: 0, serving: 0, holder: 0, saved_flags: 0))
    }

    /// Takes the lock. Out of line, so that the validator names its caller.
    @inline(never)
    func acquire() {
        let site = UnsafePointer<UInt64>(bitPattern: cpu_read_rbp() + 8)!.pointee
        let flags = cpu_save_interrupts_and_disable()
        LockValidator.acquiring(lockClass, site: site)
        let ticket = cpu_atomic_fetch_add(&state.pointee.next, 1)
        while cpu_atomic_load(&state.pointee.serving) != ticket {
            TLBShootdown.serveWhileWaiting()
            cpu_pause()
        }
        state.pointee.holder = CPUs.current.pointee.index + 1
        state.pointee.saved_flags = flags
    }

    @inline(never)
    func release() {
        let site = UnsafePointer<UInt64>(bitPattern: cpu_read_rbp() + 8)!.pointee
        LockValidator.releasing(lockClass, site: site, heldHere: state.pointee.holder == CPUs.current.pointee.index + 1)
        let flags = state.pointee.saved_flags
        state.pointee.holder = 0
        cpu_atomic_store(&state.pointee.serving, cpu_atomic_load(&state.pointee.serving) + 1)
        cpu_restore_interrupts(flags)
    }

    /// `body` with the lock held.
    func withLock<Result>(_ body: () -> Result) -> Result {
        acquire()
        defer { release() }
        return body()
    }

    /// Whether some CPU holds it.
    var isHeld: Bool { cpu_atomic_load(&state.pointee.holder) != 0 }
}
