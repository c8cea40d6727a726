// The kernel's physical memory: the frame allocator built from the PVH
// memory map, with everything the kernel already occupies taken away.

struct BootReservation {
    let kind: ReservationKind
    let range: FrameRange
    /// Usable, free frames this reservation took.
    let taken: UInt64
}

enum PhysicalMemory {
    static var frames = FrameAllocator(frameCount: 0, storage: UnsafeMutablePointer<UInt64>(bitPattern: 8)!)
    /// What the kernel took at boot, item by item.
    static let reservationCapacity = 8
    private(set) static var reservations = UnsafeMutablePointer<BootReservation>.allocate(capacity: reservationCapacity)
    private(set) static var reservationCount = 0
    private(set) static var bitmapPhysical: UInt64 = 0
    private(set) static var bitmapBytes: UInt64 = 0
    /// Frames below 1 MiB may hold what firmware wrote (QEMU's SeaBIOS does).
    static let firstKnownZeroFrame: UInt64 = 0x100000 >> frameShift
    /// How far the bootstrap tables' direct map reaches (pvh-entry.S).
    private static let bootstrapMapFrames: UInt64 = (UInt64(BOOTSTRAP_MAP_GIB) << 30) >> frameShift

    /// Builds the allocator: every frame starts used, usable RAM is freed,
    /// then page 0, the bootstrap tables, the kernel image, the boot
    /// information and the bitmap itself are taken back.
    /// The other CPUs' stacks (`CPUs.stackPages` each), then the PML4 they
    /// idle in, reserved at boot.
    private(set) static var cpuStacks = FrameRange(start: 0, count: 0)

    /// With `cpuCount` above 1, the page the other CPUs start in and their
    /// stacks are taken too.
    static func start(boot: BootInfo, cpuCount: Int) {
        let layout = KernelLayout.current
        // The map's view, made once: each making reads the kernel layout.
        let map = boot.memoryMap
        // The bitmap covers physical memory up to the end of the highest RAM:
        // firmware holes far above it (QEMU reserves one at 1 TiB) would only
        // make the bitmap and the direct map bigger.
        var highest: UInt64 = 0
        for index in 0..<map.count {
            let entry = map[index]
            if entry.type == MemoryType.ram { highest = max(highest, entry.base + entry.length) }
        }
        let frameCount = (highest + frameSize - 1) >> frameShift
        let image = FrameRange(covering: UInt64(layout.image_physical_start), end: UInt64(layout.image_physical_end))
        let startInfo = FrameRange(covering: boot.startInfoPhysical, end: boot.startInfoPhysical + BootInfo.startInfoSize)
        let memoryMap = FrameRange(covering: boot.memoryMapPhysical,
                                   end: boot.memoryMapPhysical + UInt64(boot.memoryMapCount * MemoryMapEntry.pvhEntrySize))
        bitmapBytes = FrameAllocator.storageBytes(frameCount: frameCount)
        let bitmapFrames = (bitmapBytes + frameSize - 1) >> frameShift
        // From 1 MiB first, where memory holds zeros; in the smallest guest
        // (4 MiB) the image fills 1 to 4 MiB, and the bitmap goes below
        // 1 MiB, zeroed here first (firmware may have written there).
        let knownZero = placeBitmap(boot: boot, from: firstKnownZeroFrame, frames: bitmapFrames, avoiding: image, startInfo, memoryMap)
        guard let bitmapStart = knownZero ?? placeBitmap(boot: boot, from: 1, frames: bitmapFrames, avoiding: image, startInfo, memoryMap) else {
            kernelPanic("no usable RAM below 4 GiB holds the frame bitmap", bitmapBytes)
        }
        bitmapPhysical = bitmapStart << frameShift
        if knownZero == nil {
            let words = KernelLayout.directMap(bitmapPhysical).assumingMemoryBound(to: UInt64.self)
            for index in 0..<Int(bitmapFrames << frameShift) / 8 { words[index] = 0 }
        }
        // One entry a RAM entry: no map is too long for the list.
        var usable = FrameRangeList(capacity: map.count)
        for index in 0..<map.count {
            let entry = map[index]
            if entry.type == MemoryType.ram { _ = usable.append(FrameRange(inside: entry.base, end: entry.base + entry.length)) }
        }
        // The bitmap lies above 1 MiB, outside the image and the boot
        // information: memory nothing wrote, so it holds zeros.
        frames = FrameAllocator(frameCount: frameCount,
                                zeroedStorage: KernelLayout.directMap(bitmapPhysical).assumingMemoryBound(to: UInt64.self),
                                usable: usable, reservedCapacity: reservationCapacity)
        reserve(ReservationKind.pageZero, FrameRange(start: 0, count: 1))
        reserve(ReservationKind.bootstrapTables, FrameRange(covering: UInt64(layout.boot_tables_physical_start),
                                                            end: UInt64(layout.boot_tables_physical_end)))
        reserve(ReservationKind.kernelImage, image)
        reserve(ReservationKind.startInfo, startInfo)
        reserve(ReservationKind.memoryMap, memoryMap)
        reserve(ReservationKind.frameBitmap, FrameRange(start: bitmapStart, count: bitmapFrames))
        if cpuCount > 1 { reserveForOtherCPUs(cpuCount) }
        // Firmware may have written below 1 MiB (QEMU's SeaBIOS does): those
        // frames are not known to hold zeros.
        frames.markTouched(FrameRange(start: 0, count: firstKnownZeroFrame))
        // Hand out known-zero frames first: new page tables then need no
        // zeroing (280 us a page in emulated ring 0).
        frames.startSearch(at: Frame(number: max(image.end, bitmapStart + bitmapFrames)))
    }

    /// How many CPUs can start: 1 until `reserveForOtherCPUs` set aside
    /// the start-up page and their stacks.
    private(set) static var startableCPUs = 1

    /// The page the other CPUs start in, and their stacks (with the PML4
    /// they idle in): as many CPUs as memory holds, each shortfall said on
    /// the console (the host then names the CPUs that did not start).
    private static func reserveForOtherCPUs(_ cpuCount: Int) {
        let startup = FrameRange(start: UInt64(AP_TRAMPOLINE_PHYSICAL) >> frameShift, count: 1)
        let takenBefore = reservationCount
        reserve(ReservationKind.startupTrampoline, startup)
        guard reservations[takenBefore].taken == 1 else {
            Console.write("guest kernel: the start-up page 0x8000 is not usable RAM; running on the boot CPU alone\n")
            return
        }
        // A run the allocator finds, given back and reserved: the stacks are
        // the kernel's for good, as the bitmap is.
        var cpus = cpuCount
        while cpus > 1 {
            let count = UInt64(cpus - 1) * CPUs.stackPages + 1
            if let first = frames.allocateContiguous(count: count) {
                cpuStacks = FrameRange(start: first.number, count: count)
                do { try frames.free(cpuStacks) } catch { kernelPanic("cannot set the CPUs' stacks aside", first.address) }
                reserve(ReservationKind.cpuStacks, cpuStacks)
                break
            }
            cpus -= 1
        }
        if cpus < cpuCount {
            Console.write("guest kernel: memory holds the stacks of ")
            Console.writeDecimal(UInt64(cpus))
            Console.write(" CPUs, not the ")
            Console.writeDecimal(UInt64(cpuCount))
            Console.write(" the ACPI tables list; the rest stay off\n")
        }
        startableCPUs = cpus
    }

    private static func reserve(_ kind: ReservationKind, _ range: FrameRange) {
        guard reservationCount < reservationCapacity else { kernelPanic("too many boot reservations", kind.rawValue) }
        (reservations + reservationCount).initialize(to: BootReservation(kind: kind, range: range, taken: frames.reserve(range)))
        reservationCount += 1
    }

    /// The lowest run of `count` whole frames of usable RAM from frame
    /// `lowest` (1 MiB: below it firmware may have written) and below 4 GiB
    /// (what the bootstrap tables map) that avoids the three ranges (passed
    /// one by one: an array would cost a heap allocation).
    private static func placeBitmap(boot: BootInfo, from lowest: UInt64, frames count: UInt64,
                                    avoiding first: FrameRange, _ second: FrameRange, _ third: FrameRange) -> UInt64? {
        let map = boot.memoryMap
        for index in 0..<map.count {
            let entry = map[index]
            guard entry.type == MemoryType.ram else { continue }
            let usable = FrameRange(inside: entry.base, end: entry.base + entry.length)
            var start = max(usable.start, lowest)
            var moved = true
            func skip(_ range: FrameRange) {
                if range.overlaps(FrameRange(start: start, count: count)) {
                    start = range.end
                    moved = true
                }
            }
            while moved {
                moved = false
                skip(first)
                skip(second)
                skip(third)
            }
            if start + count <= min(usable.end, bootstrapMapFrames) { return start }
        }
        return nil
    }

    /// A frame the kernel cannot go on without: out of memory is a panic
    /// that names the request.
    static func requireFrame(for request: StaticString) -> Frame {
        guard let frame = frames.allocate() else { kernelPanic("out of physical memory", 0, detail: request) }
        return frame
    }

    /// Frees a frame the kernel itself took. A refused free here is a bug in
    /// the kernel, so it is a panic that names it; a free someone else asks
    /// for (a call, the monitor) is checked and refused with a typed error
    /// instead (FreeFrame).
    static func free(_ frame: Frame) {
        do {
            try frames.free(frame)
        } catch {
            switch error {
            case .doubleFree: kernelPanic("frame free: double free", frame.address)
            case .reservedFrame: kernelPanic("frame free: reserved frame", frame.address)
            case .outOfRange: kernelPanic("frame free: outside physical memory", frame.address)
            }
        }
    }
}
