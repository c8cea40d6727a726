// The TLB checker: a page-table write that leaves a translation the TLB may
// hold stale (the Pagemap tells of each, `TranslationChangeWitness`) is an
// obligation, and only `TLB`'s invalidations discharge it. Where a stale
// translation could next be used (`TLBCheckpoint`: the end of a call or of
// a monitor command, an entry to ring 3, the kernel's access probes) an
// obligation still pending is a failure that names the write and where it
// was made, whether or not this CPU (or emulator) would have shown the
// stale translation: nested KVM flushes more eagerly than hardware, so a
// missing invlpg passes every behaviour test there.
//
// Which writes count: only the loaded address space's, and those below the
// PML4 in the kernel's region (slot 255, whose tables every address space
// shares). The TLB holds no other space's translations: with no PCIDs and
// no global pages, the CR3 load that left it dropped them all.
//
// Each CPU has its own obligations: a write is the writing CPU's to
// invalidate, and only that CPU's checkpoints judge it. Another CPU's
// checkpoint may fall between a write and its invalidation (one thread
// returns to ring 3 while another unmaps), and is no place to judge it.
// A write has two parts: this CPU's TLB (an invlpg or a CR3 load), and,
// when another CPU had the same root loaded as it was written, theirs,
// which only a shootdown sent after it discharges (`shotDown`). So a
// missing shootdown is caught here too, where this KVM's TLBs would hide it.

enum TLBChecker {
    /// One obligation in two words, since every word stored costs this
    /// emulated ring 0 a software walk of the kernel's tables: the page
    /// with level, leaf, change and frame count in its low 12 bits, and the
    /// root with the parts still owed in its low 2 (`local`, `remote`).
    struct Obligation {
        var packed: UInt64
        var rootAndParts: UInt64

        static let local: UInt64 = 1
        static let remote: UInt64 = 2

        init(page: UInt64, level: UInt8, leaf: Bool, change: TranslationChange, frames: Int, root: UInt64, remote: Bool) {
            packed = page | UInt64(level) | (leaf ? 1 << 3 : 0) | UInt64(change.rawValue) << 4 | UInt64(frames) << 8
            rootAndParts = root | Self.local | (remote ? Self.remote : 0)
        }

        var root: UInt64 { rootAndParts & ~(pageSize - 1) }
        /// Whether another CPU's TLB is still owed a shootdown.
        var owesRemote: Bool { rootAndParts & Self.remote != 0 }
        var isDischarged: Bool { rootAndParts & (Self.local | Self.remote) == 0 }

        var page: UInt64 { packed & ~(pageSize - 1) }
        var level: UInt8 { UInt8(packed & 7) }
        var leaf: Bool { packed & (1 << 3) != 0 }
        var change: TranslationChange { TranslationChange(rawValue: UInt8((packed >> 4) & 0xF)) ?? .unmapped }
        var frameCount: Int { Int((packed >> 8) & 0xF) }

        /// Whether an invlpg of `address` discharges it: a leaf's page holds
        /// the address, or a widened table entry lies above the new page at
        /// it; any other table entry needs a full flush.
        func isDischarged(byInvalidating address: UInt64) -> Bool {
            if change == .tableEntryWidened { return address & ~(pageSize - 1) == page }
            guard leaf else { return false }
            let size: UInt64 = 1 << (12 + 9 * UInt64(level &- 1))
            return address & ~(size - 1) == page & ~(size - 1)
        }
    }

    /// Obligations pending, oldest first, in a buffer made once: an
    /// Array's append and removeAll cost hundreds of emulated instructions.
    /// Each write is flushed right after it today, so one is the most seen.
    /// Past `capacity`, `dropped` counts the writes not kept, the first of
    /// them in the slot after the last: only a full flush discharges those,
    /// and a checkpoint before it fails.
    /// Each CPU's are `capacity + 1` slots from `cpu * (capacity + 1)`.
    private static var allPending = UnsafeMutablePointer<Obligation>(bitPattern: 8)!
    /// Each obligation's return addresses, `writerFrames` a slot, beside it:
    /// written where they lie, never copied.
    private static var allWriters = UnsafeMutablePointer<UInt64>(bitPattern: 8)!
    /// Each CPU's count and dropped writes, two words from `cpu * 2`.
    private static var allCounts = UnsafeMutablePointer<Int>(bitPattern: 8)!
    static let capacity = 64
    /// Return addresses kept per write (the Pagemap's own is the first):
    /// each costs three stores and loads in the emulated ring 0, about 25 us
    /// an unmap.
    static let writerFrames = 5

    /// Where a frame of the boot CPU's stack may lie: the kernel's data and
    /// bss (the other CPUs' stacks are `CPUs.stacks`).
    private static var stackLow: UInt64 = 0
    private static var stackHigh: UInt64 = 0

    /// Makes each CPU's (empty) obligations, before the kernel's first load
    /// of an address space says it flushed them.
    static func prepare() {
        let layout = KernelLayout.current
        stackLow = UInt64(layout.data_start)
        stackHigh = UInt64(layout.data_end)
        let cpus = Int(MAXIMUM_CPUS)
        allPending = UnsafeMutablePointer<Obligation>.allocate(capacity: cpus * (capacity + 1))
        allWriters = UnsafeMutablePointer<UInt64>.allocate(capacity: cpus * (capacity + 1) * writerFrames)
        allCounts = UnsafeMutablePointer<Int>.allocate(capacity: cpus * 2)
        allCounts.initialize(repeating: 0, count: cpus * 2)
    }

    /// Listens to the Pagemap from now on.
    static func start() {
        TranslationChangeWitness.witness = { root, address, level, leaf, change in
            TLBChecker.wrote(root: root, address: address, level: level, leaf: leaf, change: change)
        }
    }

    /// The calling CPU's number, through GS.
    @inline(__always)
    private static var cpu: Int { Int(CPUs.current.pointee.index) }
    @inline(__always)
    private static var pending: UnsafeMutablePointer<Obligation> { allPending + cpu * (capacity + 1) }
    @inline(__always)
    private static var writers: UnsafeMutablePointer<UInt64> { allWriters + cpu * (capacity + 1) * writerFrames }
    @inline(__always)
    private static var count: Int {
        get { allCounts[cpu * 2] }
        set { allCounts[cpu * 2] = newValue }
    }
    @inline(__always)
    private static var dropped: Int {
        get { allCounts[cpu * 2 + 1] }
        set { allCounts[cpu * 2 + 1] = newValue }
    }

    @inline(__always)
    static func wrote(root: UInt64, address: UInt64, level: UInt8, leaf: Bool, change: UInt8) {
        // Below its PML4 entry, the kernel's region is the same tables in every space.
        let shared = level < 4 && (address >> 39) & 0x1FF == UInt64(KernelAddressSpace.kernelSlot)
        guard root == TLB.loadedRoot || shared, let change = TranslationChange(rawValue: change) else { return }
        let cpu = cpu
        let count = allCounts[cpu * 2]
        // Past capacity, the first write not kept goes in the spare slot.
        let slot = count < capacity ? count : capacity
        if slot == count || allCounts[cpu * 2 + 1] == 0 {
            let frames = callers(cpu: cpu, into: allWriters + (cpu * (capacity + 1) + slot) * writerFrames)
            // A widened table entry owes other CPUs nothing: a cached narrower
            // copy there is a spurious fault, which ring 3 takes again.
            let remote = change != .tableEntryWidened && otherCPUHasLoaded(root, besides: cpu)
            (allPending + cpu * (capacity + 1) + slot).initialize(
                to: Obligation(page: address & ~(pageSize - 1), level: level, leaf: leaf, change: change, frames: frames,
                               root: root, remote: remote))
        }
        if slot == count { allCounts[cpu * 2] += 1 } else { allCounts[cpu * 2 + 1] += 1 }
    }

    /// Whether an online CPU other than `cpu` has `root` in its CR3 (the
    /// shootdown's rule for whom it interrupts).
    private static func otherCPUHasLoaded(_ root: UInt64, besides cpu: Int) -> Bool {
        guard CPUs.count > 1 else { return false }
        for index in 0..<CPUs.count where index != cpu {
            if UInt64(cpu_atomic_load(&CPUs.area(index).pointee.loaded_root)) == root { return true }
        }
        return false
    }

    /// An invlpg of `address` discharges this CPU's part of what it covers
    /// (`isDischarged(byInvalidating:)`).
    static func invalidated(_ address: UInt64) {
        discharge(Obligation.local) { $0.isDischarged(byInvalidating: address) }
    }

    /// A shootdown of `count` pages from `start` (0: all) reached every other
    /// CPU with this CPU's root: it discharges their part.
    static func shotDown(start: UInt64, count: UInt64) {
        guard CPUs.count > 1 else { return }
        if count == 0 || count > TLBShootdown.pageCeiling {
            discharge(Obligation.remote) { _ in true }
        } else {
            discharge(Obligation.remote) { obligation in
                (0..<count).contains { obligation.isDischarged(byInvalidating: start &+ $0 * pageSize) }
            }
        }
    }

    /// Clears `part` of this CPU's obligations that `covers`, and drops the
    /// ones that owe nothing more.
    @inline(__always)
    private static func discharge(_ part: UInt64, _ covers: (Obligation) -> Bool) {
        // This CPU's, read through GS once: every access costs emulated ring 0.
        let cpu = cpu
        let pending = allPending + cpu * (capacity + 1)
        let writers = allWriters + cpu * (capacity + 1) * writerFrames
        var count = allCounts[cpu * 2]
        var index = 0
        while index < count {
            if pending[index].rootAndParts & part != 0 && covers(pending[index]) { pending[index].rootAndParts &= ~part }
            if pending[index].isDischarged {
                count -= 1
                // The rest move down one, oldest first still.
                var next = index
                while next < count {
                    pending[next] = pending[next + 1]
                    for frame in 0..<writerFrames { writers[next * writerFrames + frame] = writers[(next + 1) * writerFrames + frame] }
                    next += 1
                }
            } else {
                index += 1
            }
        }
        allCounts[cpu * 2] = count
    }

    /// This CPU's TLB flushed (a CR3 load): its part of every obligation;
    /// the writes not kept are forgotten.
    static func flushedAll() {
        dropped = 0
        discharge(Obligation.local) { _ in true }
    }

    /// Fails the kernel when an obligation is pending at `checkpoint`.
    @inline(__always)
    static func check(_ checkpoint: TLBCheckpoint) {
        let cpu = cpu
        if allCounts[cpu * 2] > 0 || allCounts[cpu * 2 + 1] > 0 { fail(checkpoint) }
    }

    @inline(never)
    private static func fail(_ checkpoint: TLBCheckpoint) -> Never {
        // The oldest kept; when invalidations discharged them all, the first dropped.
        let first = count > 0 ? pending.pointee : pending[capacity]
        let firstWriters = count > 0 ? writers : writers + capacity * writerFrames
        Console.write("kernel: stale translation of ")
        Console.writeHex(first.page)
        Console.write(" when ")
        switch checkpoint {
        case .endOfCall: Console.write("the call ended")
        case .returnToUser: Console.write("returning to user mode")
        case .kernelAccess: Console.write("probing a page")
        case .endOfMonitorCommand: Console.write("the monitor's command ended")
        }
        if count > 0 && first.rootAndParts & Obligation.local == 0 { Console.write(" (another CPU's copy: no shootdown reached it)") }
        Console.write("\n")
        let record = StaleTranslationRecord(
            address: first.page, root: first.root, level: UInt64(first.level), leaf: first.leaf,
            change: first.change, checkpoint: checkpoint, pending: UInt64(count + dropped),
            writtenFrom: WordList(UnsafeRawBufferPointer(start: firstWriters, count: first.frameCount * 8)))
        ReportChannel.send(kind: .staleTranslation) { $0.encode(record) }
        exitGuest(ExitStatus.panic)
    }

    /// Stores the return addresses of `wrote`'s callers at `frames`,
    /// innermost first, and says how many: the RBP chain, followed only
    /// while each frame lies in the CPU's stacks, each above the last (so
    /// checked against the top alone).
    @inline(__always)
    private static func callers(cpu: Int, into frames: UnsafeMutablePointer<UInt64>) -> Int {
        let stacks = cpu == 0 ? stackLow..<stackHigh : CPUs.stacks(cpu)
        let high = stacks.upperBound &- 16
        var rbp = UInt64(cpu_read_rbp())
        guard rbp >= stacks.lowerBound else { return 0 }
        var index = 0
        while index < writerFrames && rbp <= high {
            let frame = UnsafePointer<UInt64>(bitPattern: UInt(rbp))!
            frames[index] = frame[1]
            index += 1
            let next = frame[0]
            guard next > rbp else { break }
            rbp = next
        }
        return index
    }
}
