// Work the boot CPU hands another CPU: posted in the CPU's area with an
// argument, the CPU woken from its idle loop by an IPI (WAKE_VECTOR), its
// result read back once it says it is done. One piece of work at a time a
// CPU; it runs with interrupts on, so that shootdowns reach it.

enum CPUWork: UInt {
    case none = 0
    /// Reads the page at the argument from ring 0, in the kernel's address
    /// space, until a read faults (`RemoteReader`).
    case readUntilFault = 1
    /// Acknowledges at once: the cost of a round trip (`MeasureSeveralCPUs`).
    case ping = 2
    /// Loads the address space whose root is the argument and waits, with
    /// interrupts on, until released: a shootdown's target (`MeasureSeveralCPUs`).
    case holdAddressSpace = 3
    /// Runs thread `argument` of the process now running, to its end (ProcessRunner).
    case runThread = 4
    /// Raises `RaiseException.pending`: a failure on this CPU.
    case raiseException = 5
}

enum CPUWorkState: UInt {
    case idle = 0
    case posted = 1
    case running = 2
    case done = 3
}

extension CPUs {
    /// Posts `work` to CPU `index` and wakes it; `result(of:)` waits for it.
    static func post(_ work: CPUWork, argument: UInt64 = 0, to index: Int) {
        let area = CPUs.area(index)
        area.pointee.work_argument = UInt(argument)
        area.pointee.work_result = 0
        area.pointee.work = work.rawValue
        cpu_atomic_store(&area.pointee.work_state, CPUWorkState.posted.rawValue)
        LocalAPIC.interrupt(UInt64(area.pointee.apic_id), vector: UInt32(WAKE_VECTOR))
    }

    /// Waits until CPU `index` has done its work, and returns its result.
    static func result(of index: Int) -> UInt64 {
        let area = CPUs.area(index)
        while cpu_atomic_load(&area.pointee.work_state) != CPUWorkState.done.rawValue { cpu_pause() }
        cpu_atomic_store(&area.pointee.work_state, CPUWorkState.idle.rawValue)
        return UInt64(cpu_atomic_load(&area.pointee.work_result))
    }

    /// Whether CPU `index` has started its work.
    static func isRunning(_ index: Int) -> Bool {
        cpu_atomic_load(&CPUs.area(index).pointee.work_state) != CPUWorkState.posted.rawValue
    }

    /// An application processor's loop: work when there is some, a halt
    /// with interrupts on when there is none (a wake or a shootdown ends it).
    static func idle(_ area: UnsafeMutablePointer<cpu_local>) -> Never {
        while true {
            if cpu_atomic_load(&area.pointee.work_state) == CPUWorkState.posted.rawValue {
                cpu_atomic_store(&area.pointee.work_state, CPUWorkState.running.rawValue)
                cpu_enable_interrupts()
                let result = run(CPUWork(rawValue: area.pointee.work) ?? .none, UInt64(area.pointee.work_argument), area)
                cpu_disable_interrupts()
                area.pointee.work = CPUWork.none.rawValue
                cpu_atomic_store(&area.pointee.work_result, UInt(result))
                cpu_atomic_store(&area.pointee.work_state, CPUWorkState.done.rawValue)
                continue
            }
            cpu_wait_for_interrupt()
        }
    }

    private static func run(_ work: CPUWork, _ argument: UInt64, _ area: UnsafeMutablePointer<cpu_local>) -> UInt64 {
        switch work {
        case .none, .ping: return 0
        case .readUntilFault: return RemoteReader.read(argument, area)
        case .raiseException:
            RaiseException.raise(RaiseException.pending)
            return 0
        case .runThread:
            ProcessRunner.runThread(Int(argument), entry: ProcessRunner.entry)
            return 0
        case .holdAddressSpace:
            TLB.loadOnThisCPU(argument)
            while cpu_atomic_load(&area.pointee.work_argument) != 0 { cpu_pause() }
            TLB.loadOnThisCPU(CPUs.idleRoot)
            return 0
        }
    }

    /// Ends a `holdAddressSpace` on CPU `index`.
    static func release(_ index: Int) {
        cpu_atomic_store(&CPUs.area(index).pointee.work_argument, 0)
    }
}
