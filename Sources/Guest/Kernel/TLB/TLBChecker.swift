// The TLB checker: a page-table write that leaves a translation the TLB may
// hold stale (the Pagemap tells of each, `TranslationChangeWitness`) is an
// obligation, and only `TLB`'s invalidations discharge it. Where a stale
// translation could next be used (the end of a call from the host, a return
// to user mode) an obligation still pending is a failure that names the
// write and where it was made, whether or not this CPU (or emulator) would
// have shown the stale translation: nested KVM flushes more eagerly than
// hardware, so a missing invlpg passes every behaviour test there.
//
// Which writes count: only the loaded address space's, and those below the
// PML4 in the kernel's region (slot 255, whose tables every address space
// shares). The TLB
// holds no other space's translations: with no PCIDs and no global pages,
// the CR3 load that left it dropped them all. Several CPUs (later) make this
// a set of CPUs per obligation, discharged by an acknowledged shootdown.

enum TLBChecker {
    struct Obligation {
        var address: UInt64
        var root: UInt64
        var level: UInt8
        var leaf: Bool
        var change: TranslationChange
        /// The addresses an invlpg discharges it from: those with
        /// `address & mask == base`; a mask of 0 means only a full flush does.
        var mask: UInt64
        var base: UInt64
        var writtenFrom: Frames
        var frameCount: Int
    }
    typealias Frames = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// Obligations pending, oldest first, in a buffer made once: in the
    /// emulated ring 0 here every instruction of this path costs about a
    /// microsecond, and an Array's append and removeAll cost hundreds.
    /// Each write is flushed right after it today, so one is the most seen;
    /// past `capacity` the first ones are kept and `dropped` counts the rest,
    /// which then only a full flush discharges.
    private static var pending = UnsafeMutablePointer<Obligation>(bitPattern: 8)!
    private static var count = 0
    private static var dropped: UInt64 = 0
    static let capacity = 64
    /// Return addresses kept per write: the witness and the Pagemap take two.
    static let writerFrames = 8

    /// Where a frame of the kernel's stack may lie: its data and bss.
    private static var stackLow: UInt64 = 0
    private static var stackHigh: UInt64 = 0

    /// Listens to the Pagemap from now on.
    static func start() {
        let layout = KernelLayout.current
        stackLow = UInt64(layout.data_start)
        stackHigh = UInt64(layout.data_end) &- 16
        pending = UnsafeMutablePointer<Obligation>.allocate(capacity: capacity)
        TranslationChangeWitness.witness = { root, address, level, leaf, change in
            TLBChecker.wrote(root: root, address: address, level: level, leaf: leaf, change: change)
        }
    }

    @inline(never)
    static func wrote(root: UInt64, address: UInt64, level: UInt8, leaf: Bool, change: UInt8) {
        // Below its PML4 entry, the kernel's region is the same tables in every space.
        let shared = level < 4 && (address >> 39) & 0x1FF == UInt64(KernelAddressSpace.kernelSlot)
        guard root == TLB.loadedRoot || shared, let change = TranslationChange(rawValue: change) else { return }
        guard count < capacity else {
            dropped += 1
            return
        }
        let mask: UInt64 = change == .tableEntryWidened ? ~(pageSize - 1)
            : leaf ? ~((1 << (12 + 9 * UInt64(level - 1))) - 1) : 0
        let slot = pending + count
        slot.initialize(to: Obligation(address: address, root: root, level: level, leaf: leaf, change: change,
                                       mask: mask, base: address & mask, writtenFrom: (0, 0, 0, 0, 0, 0, 0, 0), frameCount: 0))
        slot.pointee.frameCount = callers(into: &slot.pointee.writtenFrom)
        count += 1
    }

    /// An invlpg of `address` discharges each leaf obligation whose page
    /// holds it, and a widened table entry's above the page at `address`;
    /// another table entry's needs a full flush.
    static func invalidated(_ address: UInt64) {
        var index = 0
        while index < count {
            let obligation = pending + index
            if obligation.pointee.mask != 0 && address & obligation.pointee.mask == obligation.pointee.base {
                count -= 1
                obligation.update(from: obligation + 1, count: count - index)  // keeps the oldest first
            } else {
                index += 1
            }
        }
    }

    static func flushedAll() {
        count = 0
        dropped = 0
    }

    /// Fails the kernel when an obligation is pending at `checkpoint`.
    @inline(__always)
    static func check(_ checkpoint: TLBCheckpoint) {
        if count > 0 { fail(checkpoint) }
    }

    @inline(never)
    private static func fail(_ checkpoint: TLBCheckpoint) -> Never {
        let first = pending.pointee
        Console.write("kernel: stale translation of ")
        Console.writeHex(first.address)
        Console.write(" when ")
        Console.write(checkpoint == .endOfCall ? "the call ended" : "returning to user mode")
        Console.write("\n")
        withUnsafeBytes(of: first.writtenFrom) { frames in
            let frameCount = first.frameCount
            let record = StaleTranslationRecord(
                address: first.address, root: first.root, level: UInt64(first.level), leaf: first.leaf,
                change: first.change, checkpoint: checkpoint, pending: UInt64(count) + dropped,
                writtenFrom: WordList(UnsafeRawBufferPointer(rebasing: frames[0..<frameCount * 8])))
            ReportChannel.send(kind: .staleTranslation) { $0.encode(record) }
        }
        exitGuest(ExitStatus.panic)
    }

    /// The return addresses of `wrote`'s callers, innermost first, and how
    /// many: the RBP chain, followed only while each frame lies in the
    /// kernel's data (where its stack is) above the last.
    @inline(__always)
    private static func callers(into frames: inout Frames) -> Int {
        let low = stackLow, high = stackHigh
        var rbp = UInt64(cpu_read_rbp())
        return withUnsafeMutableBytes(of: &frames) { slots in
            var index = 0
            while index < writerFrames, rbp & 7 == 0, rbp >= low, rbp <= high {
                let frame = UnsafePointer<UInt64>(bitPattern: UInt(rbp))!
                let returnAddress = frame[1]
                guard returnAddress != 0 else { break }
                slots.storeBytes(of: returnAddress, toByteOffset: index * 8, as: UInt64.self)
                index += 1
                let next = frame[0]
                guard next > rbp else { break }
                rbp = next
            }
            return index
        }
    }
}
