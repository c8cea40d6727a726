// Processes: a program loaded at virtual address 0 in an address space of
// its own. The kernel region (PML4 slot 255) is shared, supervisor-only;
// everything below it is the process's. Only what the program needs is
// mapped: its segments; its stack and whatever it allocates come page by
// page from the page trap.

/// The process that is running, if any. One at a time, one after another,
/// with one thread a CPU: thread 0 on the boot CPU, thread i on CPU i. Its
/// threads share everything here; `lock` keeps their traps and system
/// calls (the page trap, the memory space, the frames they take) one at a time.
enum CurrentProcess {
    static var active = false
    /// Its threads, 1 to the CPUs online.
    static var threads = 1
    static let lock = SpinLock(.processSpace)
    static var pagemap = Pagemap(root: Frame(number: 0), directMap: 0)
    static var space = MemorySpace(base: 0, limit: 0)
    static var reportFaults = false
    static var reallocations: UInt64 = 0
    static var breakpoints: UInt64 = 0
    static var killed = false
    static var status: UInt64 = 0
    /// Why the kernel killed it, when `killed`.
    static var reason = FaultReason.outOfMemory
    static var faultAddress: UInt64 = 0
    static var faultRip: UInt64 = 0
    static var faultVector: UInt64 = 0
    /// The thread whose fault killed the process.
    static var faultThread: UInt64 = 0
    static var freeFramesBefore: UInt64 = 0
    static var userCycles: UInt64 = 0
    /// Benchmark mode: every user page fault resumes past its (2-byte) instruction.
    static var skipFaults = false
    /// Run from the monitor: each value the program reports is also a console line.
    static var showReports = false
}

enum ProcessRunner {
    /// User space: PML4 slot 0, one 512 GiB region; the program starts at 0.
    static let userLimit: UInt64 = MemorySpace.regionSize
    static let stackPages: UInt64 = 16

    /// RFLAGS a process starts with: interrupts on where there are other
    /// CPUs, so that their shootdowns and kills reach its threads; off on
    /// one CPU, where nothing would interrupt it (and KVM gives a one-CPU
    /// guest no interrupt controller).
    static var userFlags: UInt { CPUs.count > 1 ? 0x202 : 0x2 }

    /// Where thread `index`'s stack ends: each below the last, a guard page apart.
    static func stackTop(thread index: Int) -> UInt64 { userLimit - UInt64(index) * (stackPages + 1) * pageSize }

    static func programCount() -> Int { Int(program_table_get()!.pointee) }

    /// The name, ELF image and one-line description of built-in program
    /// `index` (build-guest.sh writes the table: three address-length pairs each).
    static func program(_ index: Int) -> (name: UnsafeRawBufferPointer, image: UnsafeRawBufferPointer,
                                          description: UnsafeRawBufferPointer) {
        let entry = program_table_get()! + 1 + index * 6
        func bytes(_ pair: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(entry[2 * pair])), count: Int(entry[2 * pair + 1]))
        }
        return (bytes(0), bytes(1), bytes(2))
    }

    /// Runs program `index` to its exit or its fault and tears its process
    /// down. False when there is no such program.
    static func run(_ index: Int, reportFaults: Bool, threads: Int = 1) -> Bool {
        guard index >= 0, index < programCount() else { return false }
        return run(image: program(index).image, reportFaults: reportFaults, threads: threads)
    }

    /// The image the host wrote into a program buffer.
    static var hostBuffer: (frame: Frame, pages: UInt64)? = nil

    static let hostBufferPageLimit: UInt64 = 256

    static func reserveHostBuffer(bytes: UInt64) -> UInt64? {
        releaseHostBuffer()
        let pages = (bytes + pageSize - 1) / pageSize
        guard pages > 0, pages <= hostBufferPageLimit, let first = PhysicalMemory.frames.allocateContiguous(count: pages) else { return nil }
        hostBuffer = (first, pages)
        return first.address
    }

    static func releaseHostBuffer() {
        if let buffer = hostBuffer {
            for number in buffer.frame.number..<(buffer.frame.number + buffer.pages) { PhysicalMemory.free(Frame(number: number)) }
        }
        hostBuffer = nil
    }

    /// Runs the image in the host's buffer; false when the address and size
    /// are not the buffer's, or the image is not a program.
    static func runHostImage(physical: UInt64, bytes: UInt64, reportFaults: Bool) -> Bool {
        guard let buffer = hostBuffer, buffer.frame.address == physical, bytes <= buffer.pages * pageSize else { return false }
        let image = UnsafeRawBufferPointer(start: KernelLayout.directMap(physical), count: Int(bytes))
        let ran = run(image: image, reportFaults: reportFaults)
        releaseHostBuffer()
        return ran
    }

    static func run(image bytes: UnsafeRawBufferPointer, reportFaults: Bool, threads: Int = 1) -> Bool {
        guard let image = ProgramImage(bytes), threads >= 1, threads <= CPUs.count else { return false }
        entry = image.entry
        let freeBefore = PhysicalMemory.frames.freeFrames
        guard let pagemap = Pagemap.create(frames: &PhysicalMemory.frames, directMap: KernelLayout.current.direct_map_base) else {
            return false
        }
        pagemap.shareTopLevelEntry(KernelAddressSpace.kernelSlot, from: KernelAddressSpace.pagemap)
        HostCheckTable.register(pagemap, .process)
        CurrentProcess.pagemap = pagemap
        CurrentProcess.space = MemorySpace(base: 0, limit: userLimit)
        CurrentProcess.reportFaults = reportFaults
        CurrentProcess.reallocations = 0
        CurrentProcess.breakpoints = 0
        CurrentProcess.killed = false
        CurrentProcess.status = 0
        CurrentProcess.faultAddress = 0
        CurrentProcess.faultRip = 0
        CurrentProcess.faultVector = 0
        CurrentProcess.faultThread = 0
        CurrentProcess.threads = threads

        FastFaults.drain()
        _ = FastFaults.takeCount()
        if load(image) && (0..<threads).allSatisfy({ reserveStack(thread: $0) }) {
            TLB.load(pagemap)
            CurrentProcess.active = true
            let started = cpu_rdtsc()
            TLBChecker.check(.returnToUser)
            for thread in 1..<threads { CPUs.post(.runThread, argument: UInt64(thread), to: thread) }
            _ = user_enter(UInt(image.entry), UInt(stackTop(thread: 0) - 8), 0, UInt(threads), userFlags)
            // Thread 0 ended: the process ends with the others, and a kill of
            // it (by any thread) kills them.
            for thread in 1..<threads { _ = CPUs.result(of: thread) }
            CurrentProcess.userCycles = UInt64(cpu_rdtsc() - started)
            CurrentProcess.active = false
            TLB.load(KernelAddressSpace.pagemap)
            CurrentProcess.reallocations += FastFaults.takeCount()
            FastFaults.drain()
        } else {
            CurrentProcess.killed = true
            CurrentProcess.reason = .outOfMemory
        }
        // One thread again: traps taken outside a process (the ring-3 access
        // checks) take no process lock.
        CurrentProcess.threads = 1
        tearDown()
        CurrentProcess.freeFramesBefore = freeBefore
        return true
    }

    /// How the last run ended.
    static func outcome() -> ProgramRun {
        let outcome: ProgramRun.Outcome
        if CurrentProcess.killed {
            outcome = .faulted(reason: CurrentProcess.reason, address: CurrentProcess.faultAddress,
                               rip: CurrentProcess.faultRip, vector: CurrentProcess.faultVector)
        } else {
            outcome = .exited(status: CurrentProcess.status)
        }
        return ProgramRun(outcome: outcome, reallocations: CurrentProcess.reallocations,
                          freeFramesBefore: CurrentProcess.freeFramesBefore, freeFramesAfter: PhysicalMemory.frames.freeFrames,
                          breakpoints: CurrentProcess.breakpoints, userCycles: CurrentProcess.userCycles,
                          faultThread: CurrentProcess.killed ? CurrentProcess.faultThread : 0)
    }

    /// Maps each loadable segment at its address with its permissions and
    /// copies its file bytes in; the rest of the segment stays zero.
    private static func load(_ image: ProgramImage) -> Bool {
        for index in 0..<image.segmentCount where image.isLoadable(index) {
            let segment = image.segment(index)
            let start = segment.virtualAddress & ~(pageSize - 1)
            let pages = (segment.virtualAddress - start + segment.memorySize + pageSize - 1) / pageSize
            guard pages > 0 else { continue }
            var flags: PageTableFlags = [.user]
            if segment.writable { flags.insert(.writable) }
            if !segment.executable { flags.insert(.noExecute) }
            do {
                try CurrentProcess.space.reserve(at: start, pages: pages, backing: .eager, flags: flags,
                                                 pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames,
                                                 zero: zeroFrame, invalidate: { _ in })  // not in CR3 yet
            } catch {
                return false
            }
            copy(image.contents(segment), to: segment.virtualAddress)
        }
        return true
    }

    /// Runs thread `index` on this CPU (another than the boot CPU's): in the
    /// process's address space, from its entry, on its own stack.
    static func runThread(_ index: Int, entry: UInt64) {
        TLB.loadOnThisCPU(CurrentProcess.pagemap.root.address)
        _ = user_enter(UInt(entry), UInt(stackTop(thread: index) - 8), UInt(index), UInt(CurrentProcess.threads), userFlags)
        TLB.loadOnThisCPU(CPUs.idleRoot)
    }

    /// The entry of the process now running (for its other threads).
    static var entry: UInt64 = 0

    /// A thread's stack: lazily backed pages below `stackTop(thread:)`, with
    /// a guard page below them that nothing may touch.
    private static func reserveStack(thread: Int) -> Bool {
        let top = stackTop(thread: thread) - stackPages * pageSize
        do {
            try CurrentProcess.space.reserve(at: top - pageSize, pages: 1, backing: .guardPage, flags: [],
                                             pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames, zero: zeroFrame, invalidate: { _ in })  // not in CR3 yet
            try CurrentProcess.space.reserve(at: top, pages: stackPages, backing: .lazy, flags: [.user, .writable, .noExecute],
                                             pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames, zero: zeroFrame, invalidate: { _ in })  // not in CR3 yet
        } catch {
            return false
        }
        return true
    }

    /// Copies bytes into the process's pages, through the direct map.
    private static func copy(_ bytes: UnsafeRawBufferPointer, to virtual: UInt64) {
        var done = 0
        while done < bytes.count {
            let address = virtual + UInt64(done)
            guard let translation = CurrentProcess.pagemap.translate(VirtualAddress(address)!) else { return }
            let chunk = min(bytes.count - done, Int(pageSize - (address & (pageSize - 1))))
            KernelLayout.directMap(translation.physical)
                .copyMemory(from: bytes.baseAddress! + done, byteCount: chunk)
            done += chunk
        }
    }

    /// Gives every frame and table of the process back: its reservations,
    /// then its root (after unsharing the kernel's slot).
    private static func tearDown() {
        while let last = CurrentProcess.space.reservations.last {
            do throws(MemorySpaceError) {
                try CurrentProcess.space.free(last.start, pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames,
                                              invalidate: { _ in })  // not in CR3 any more
            } catch {
                kernelPanic("process teardown: a reservation of the process would not free", last.start)
            }
        }
        HostCheckTable.unregister(CurrentProcess.pagemap)
        CurrentProcess.pagemap.unshareTopLevelEntry(KernelAddressSpace.kernelSlot)
        PhysicalMemory.free(CurrentProcess.pagemap.root)
    }

    static func zeroFrame(_ frame: Frame) {
#if MUTATION
        if activeMutation == .skipZeroingProcessFrames { return }
#endif
        KernelLayout.directMap(frame.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize))
    }
}
