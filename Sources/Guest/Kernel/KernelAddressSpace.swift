// The kernel's own address space, built at boot with the Pagemap to replace
// the bootstrap tables. All of it lies in PML4 slot 255, supervisor-only:
//   - the image at its link address: text read+execute, rodata read-only
//     no-execute, data, bss and the heap read-write no-execute;
//   - a direct map of all RAM the memory map lists, read-write no-execute,
//     in 1 GiB pages where CPUID has pdpe1gb and a whole aligned GiB is RAM,
//     2 MiB pages where the memory allows; gaps of 2 MiB or more between
//     RAM (the 32-bit hole) stay unmapped;
//   - with several CPUs, the local APIC's page at its direct-map address.
// Nothing else is mapped: page 0 and all of user space stay empty.

enum KernelAddressSpace {
    static var pagemap = Pagemap(root: Frame(number: 0), directMap: 0)
    /// Whether the direct map takes 1 GiB pages (CPUID's pdpe1gb) wherever
    /// a whole aligned GiB of it is RAM.
    private(set) static var gigabyteDirectMap = false
    /// The PML4 slot every kernel mapping lives in.
    static let kernelSlot = 255

    /// Whether `address` lies in the kernel's region, which calls may not change.
    static func isKernelRegion(_ address: VirtualAddress) -> Bool { address.index(level: 4) == kernelSlot }

    static func build(boot: BootInfo) {
        let layout = KernelLayout.current
        guard let created = Pagemap.create(frames: &PhysicalMemory.frames, directMap: layout.direct_map_base) else {
            kernelPanic("out of physical memory", 0, detail: "the kernel's PML4")
        }
        pagemap = created
        mapImage(layout.text_start, layout.text_end, [])
        mapImage(layout.rodata_start, layout.rodata_end, [.noExecute])
        mapImage(layout.data_start, layout.data_end, [.writable, .noExecute])
        mapImage(layout.heap_start, layout.heap_end, [.writable, .noExecute])
        gigabyteDirectMap = CPUModes.has(.pdpe1gb)
        mapDirectMap(boot.memoryMap, base: UInt64(layout.direct_map_base))
        if CPUs.table.count > 1 { LocalAPIC.map(into: &pagemap) }
        TLB.load(pagemap)
    }

    /// Maps part of the image at its link address: 2 MiB pages where a whole
    /// aligned 2 MiB lies inside it (the heap), 4 KiB pages for the rest.
    /// Each 4 KiB entry costs emulated ring-0 instructions at boot; a huge
    /// page costs one entry for 512 pages.
    private static func mapImage(_ start: UInt, _ end: UInt, _ flags: PageTableFlags) {
        let base = UInt64(KernelLayout.current.virtual_base)
        var virtual = UInt64(start)
        let last = (UInt64(end) + frameSize - 1) & ~(frameSize - 1)
        do {
            while virtual < last {
                if virtual % hugePageSize == 0 && last - virtual >= hugePageSize {
                    try pagemap.mapHuge(HugePage(startingAt: virtual)!, to: HugeFrame(startingAt: virtual - base)!, flags: flags,
                                        frames: &PhysicalMemory.frames).ignore()  // not loaded in CR3 yet
                    virtual += hugePageSize
                    continue
                }
                let chunkEnd = min(last, (virtual + hugePageSize) & ~(hugePageSize - 1))
                try pagemap.mapRange(Page(startingAt: virtual)!, to: Frame(containing: virtual - base),
                                     count: (chunkEnd - virtual) >> frameShift, flags: flags, frames: &PhysicalMemory.frames)
                    .ignore()  // not loaded in CR3 yet
                virtual = chunkEnd
            }
        } catch {
            kernelPanic("cannot map the kernel image", virtual)
        }
    }

    /// Maps the RAM of `map`: ranges widened down to a 2 MiB boundary and
    /// merged where they then meet, each such extent in 2 MiB pages but for
    /// a last part that ends inside one (4 KiB pages). The ranges are sorted
    /// first: a firmware map need not be in order.
    private static func mapDirectMap(_ map: MemoryMapEntries, base: UInt64) {
        var ram = FrameRangeList(capacity: map.count)
        for index in 0..<map.count {
            let entry = map[index]
            if entry.type == MemoryType.ram { _ = ram.append(FrameRange(covering: entry.base, end: entry.base + entry.length)) }
        }
        ram.normalize()
        guard ram.count > 0 else { return }
        var extentStart = ram[0].start << frameShift & ~(hugePageSize - 1)
        var extentEnd = ram[0].end << frameShift
        var index = 1
        while index < ram.count {
            let start = ram[index].start << frameShift & ~(hugePageSize - 1)
            let end = ram[index].end << frameShift
            index += 1
            if start <= extentEnd {
                extentEnd = max(extentEnd, end)
            } else {
                mapExtent(extentStart, extentEnd, base: base)
                extentStart = start
                extentEnd = end
            }
        }
        mapExtent(extentStart, extentEnd, base: base)
    }

    /// `[start, end)`, `start` on a 2 MiB boundary: 1 GiB pages for the
    /// whole aligned GiBs inside it when the CPU has them (one entry for
    /// 262,144 pages: a 64 GiB direct map is 64 entries), 2 MiB pages around
    /// them.
    private static func mapExtent(_ start: UInt64, _ end: UInt64, base: UInt64) {
        let gigabytesStart = (start + gigabytePageSize - 1) & ~(gigabytePageSize - 1)
        let gigabytesEnd = end & ~(gigabytePageSize - 1)
        guard gigabyteDirectMap, gigabytesEnd > gigabytesStart else { return mapInHugePages(start, end, base: base) }
        mapInHugePages(start, gigabytesStart, base: base)
        do {
            try pagemap.mapGigabyteRange(GigabytePage(startingAt: base + gigabytesStart)!, to: GigabyteFrame(startingAt: gigabytesStart)!,
                                         count: (gigabytesEnd - gigabytesStart) / gigabytePageSize, flags: [.writable, .noExecute],
                                         frames: &PhysicalMemory.frames)
                .ignore()  // not loaded in CR3 yet
        } catch {
            kernelPanic("cannot build the direct map", gigabytesStart)
        }
        mapInHugePages(gigabytesEnd, end, base: base)
    }

    /// `[start, end)`, `start` on a 2 MiB boundary: 2 MiB pages, then 4 KiB
    /// pages for the part of the last 2 MiB the extent covers.
    private static func mapInHugePages(_ start: UInt64, _ end: UInt64, base: UInt64) {
        let hugeEnd = end & ~(hugePageSize - 1)
        if hugeEnd > start {
            do {
                try pagemap.mapHugeRange(HugePage(startingAt: base + start)!, to: HugeFrame(startingAt: start)!,
                                         count: (hugeEnd - start) / hugePageSize, flags: [.writable, .noExecute],
                                         frames: &PhysicalMemory.frames)
                    .ignore()  // not loaded in CR3 yet
            } catch {
                kernelPanic("cannot build the direct map", start)
            }
        }
        mapSmall(max(start, hugeEnd), end, base: base)
    }

    /// The direct map of `[start, end)` in 4 KiB pages.
    private static func mapSmall(_ start: UInt64, _ end: UInt64, base: UInt64) {
        guard end > start else { return }
        do {
            try pagemap.mapRange(Page(startingAt: base + start)!, to: Frame(containing: start), count: (end - start) >> frameShift,
                                 flags: [.writable, .noExecute], frames: &PhysicalMemory.frames)
                .ignore()  // not loaded in CR3 yet
        } catch {
            kernelPanic("cannot build the direct map", start)
        }
    }
}
