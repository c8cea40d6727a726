// The table the host's page-table check reads (PageTableCheckTable): made
// once at boot on the kernel heap, inside the image, so that it lies in a
// frame the kernel owns; kept current as address spaces come and go. The
// host reads it only between calls or while the kernel waits for it, so a
// space is registered once its root exists and taken out before it goes.

enum HostCheckTable {
    private static var table = PageTableCheckTableWords(words: UnsafeMutablePointer<UInt64>(bitPattern: 8)!)

    /// Guest-physical, for the ready record.
    static var physical: UInt64 { KernelLayout.physical(ofImage: UnsafeRawPointer(table.words)) }

    /// The bitmap, the direct map, the boot reservations, the kernel's
    /// space: after PhysicalMemory.start and KernelAddressSpace.build.
    static func start() {
        let layout = KernelLayout.current
        table = PageTableCheckTableWords(clearing: UnsafeMutablePointer<UInt64>.allocate(capacity: PageTableCheckTable.wordCount))
        table[.bitmapPhysical] = PhysicalMemory.bitmapPhysical
        table[.bitmapFrames] = PhysicalMemory.frames.frameCount
        // The direct map reaches the end of the highest RAM, the bitmap's last frame.
        table[.directMapStart] = UInt64(layout.direct_map_base)
        table[.directMapEnd] = UInt64(layout.direct_map_base) + PhysicalMemory.frames.frameCount << frameShift
        for index in 0..<PhysicalMemory.reservationCount {
            let range = PhysicalMemory.reservations[index].range
            guard table.addKernelRange(start: range.start << frameShift, end: range.end << frameShift) else {
                kernelPanic("the host check table has no room for a boot reservation", range.start << frameShift)
            }
        }
        register(KernelAddressSpace.pagemap, .kernel)
    }

    /// A new live address space.
    static func register(_ pagemap: Pagemap, _ kind: PageTableCheckTable.SpaceKind) {
        guard table.addSpace(root: pagemap.root.address, kind: kind) else {
            kernelPanic("the host check table has no room for another address space", pagemap.root.address)
        }
    }

    /// The kind a live space with root `root` was published as, if it is.
    static func kind(ofRoot root: UInt64) -> PageTableCheckTable.SpaceKind? {
        for index in 0..<Int(table[.spaceCount]) where table.words[PageTableCheckTable.spaceWord(index)] == root {
            return PageTableCheckTable.SpaceKind(rawValue: table.words[PageTableCheckTable.spaceWord(index) + 1])
        }
        return nil
    }

    static var spaceCount: UInt64 { table[.spaceCount] }

    /// An address space about to go; nothing when it was never registered.
    static func unregister(_ pagemap: Pagemap) {
        _ = table.removeSpace(root: pagemap.root.address)
    }
}
