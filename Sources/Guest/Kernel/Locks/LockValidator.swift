// The lock validator, in the spirit of Linux's lockdep: it follows which
// lock classes each CPU holds, records the first place each ordered pair
// of classes was taken (B taken while A is held: A before B), and reports,
// as a typed guest failure naming both places, a lock taken in the opposite
// order of one seen before (two CPUs doing both would deadlock), a lock
// taken by the CPU that already holds it, a lock released by a CPU that
// does not hold it, and a lock taken inside an interrupt handler (its
// holder, interrupted on the same CPU, would never release it; no class is
// taken in a handler in this kernel). It needs no deadlock to happen: one
// run of each order, on any CPUs, is enough. Always on: it costs a few
// loads a lock, and the kernel takes few.

enum LockValidator {
    /// Raw values from 1; the table has room for `LOCK_VALIDATOR_CLASSES`.
    private static let classCount = Int(LOCK_VALIDATOR_CLASSES)
    /// The most locks a CPU holds at once.
    private static let depth = Int(LOCK_VALIDATOR_DEPTH)

    /// The tables, in zeroed .bss (Assembly/cpu-tables.S): nothing to
    /// allocate or clear at boot, where ring 0 is emulated.
    private static var storage: UnsafeMutablePointer<UInt64> {
        UnsafeMutableRawPointer(lock_validator_tables()!).assumingMemoryBound(to: UInt64.self)
    }
    /// `order[a * classCount + b]`: where b was first taken while a was held; 0: never.
    private static var order: UnsafeMutablePointer<UInt64> { storage }
    /// Each CPU's held classes and where it took them, `depth` a CPU.
    private static var held: UnsafeMutablePointer<(lockClass: UInt64, site: UInt64)> {
        UnsafeMutableRawPointer(storage + classCount * classCount).assumingMemoryBound(to: (lockClass: UInt64, site: UInt64).self)
    }
    private static var heldCount: UnsafeMutablePointer<Int> {
        UnsafeMutableRawPointer(storage + classCount * classCount + Int(MAXIMUM_CPUS) * depth * 2).assumingMemoryBound(to: Int.self)
    }
    /// Whether each CPU runs an interrupt handler (an IPI's): no lock class
    /// is taken in one in this kernel.
    private static var inInterrupt: UnsafeMutablePointer<UInt64> { storage + classCount * classCount + Int(MAXIMUM_CPUS) * (depth * 2 + 1) }

    /// Around an interrupt handler's work on this CPU.
    static func enterInterrupt() { inInterrupt[Int(CPUs.current.pointee.index)] = 1 }
    static func leaveInterrupt() { inInterrupt[Int(CPUs.current.pointee.index)] = 0 }

    /// The order table is shared: its own word serializes writers (not a SpinLock: it would validate itself).
    private static var tableBusy: UInt = 0

    /// Before `lockClass` is taken at `site` (interrupts already off).
    static func acquiring(_ lockClass: LockClass, site: UInt64) {
        let cpu = Int(CPUs.current.pointee.index)
        let stack = held + cpu * depth
        if inInterrupt[cpu] != 0 { fail(.takenInInterrupt, lockClass, lockClass, site, 0, cpu) }
        for index in 0..<heldCount[cpu] {
            let holding = stack[index]
            if holding.lockClass == lockClass.rawValue { fail(.takenTwice, lockClass, lockClass, site, holding.site, cpu) }
            let reverse = order[Int(lockClass.rawValue) * classCount + Int(holding.lockClass)]
            if reverse != 0 { fail(.orderInversion, lockClass, LockClass(rawValue: holding.lockClass)!, site, reverse, cpu) }
            let slot = order + Int(holding.lockClass) * classCount + Int(lockClass.rawValue)
            if slot.pointee == 0 {
                while cpu_atomic_compare_exchange(&tableBusy, 0, 1) == 0 { cpu_pause() }
                if slot.pointee == 0 { slot.pointee = site }
                cpu_atomic_store(&tableBusy, 0)
            }
        }
        guard heldCount[cpu] < depth else { kernelPanic("a CPU holds more locks than the lock validator follows", UInt64(depth)) }
        stack[heldCount[cpu]] = (lockClass.rawValue, site)
        heldCount[cpu] += 1
    }

    /// Before `lockClass` is released at `site`.
    static func releasing(_ lockClass: LockClass, site: UInt64, heldHere: Bool) {
        let cpu = Int(CPUs.current.pointee.index)
        let stack = held + cpu * depth
        guard heldHere, let index = (0..<heldCount[cpu]).last(where: { stack[$0].lockClass == lockClass.rawValue }) else {
            fail(.releasedUnheld, lockClass, lockClass, site, 0, cpu)
        }
        for later in index..<(heldCount[cpu] - 1) { stack[later] = stack[later + 1] }
        heldCount[cpu] -= 1
    }

    /// Reports the violation and ends the run: the locks it names are in an
    /// unknown state, and the report channel may be one of them, so the
    /// record goes out on the channel's page directly.
    private static func fail(_ kind: LockViolationKind, _ taken: LockClass, _ other: LockClass, _ site: UInt64, _ otherSite: UInt64,
                             _ cpu: Int) -> Never {
        let record = LockViolationRecord(kind: kind, taken: taken, held: other, site: site, otherSite: otherSite, cpu: UInt64(cpu))
        ReportChannel.sendBypassingLock(kind: .lockViolation) { $0.encode(record) }
        exitGuest(ExitStatus.panic)
    }
}
