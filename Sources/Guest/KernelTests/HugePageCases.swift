// 2 MiB leaves: one PD entry for 512 frames.

private let base: UInt64 = 0x0000_0040_0000_0000

enum HugePageCases {
    /// A 2 MiB run of frames, 2 MiB aligned.
    private static func hugeFrames(_ expect: inout Expect) -> Frame? {
        guard let first = PhysicalMemory.frames.allocateContiguous(count: 512, alignment: 512) else {
            expect.that(false, "a free, aligned 2 MiB run")
            return nil
        }
        return first
    }

    private static func release(_ first: Frame) {
        for index in 0..<UInt64(512) { PhysicalMemory.free(Frame(number: first.number + index)) }
    }

    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("translateAtEveryOffsetOfAHugePage") { (expect: inout Expect) in
            guard let first = hugeFrames(&expect) else { return }
            var pagemap = CaseSupport.newPagemap()
            expect.succeeds("map a 2 MiB page") { () throws(MapError) in
                try pagemap.mapHuge(CaseSupport.hugePage(base), to: CaseSupport.hugeFrame(first), flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            expect.equal(UInt64(pagemap.tablesCreated), 2, "a PDPT and a PD, no PT")
            var offset: UInt64 = 0
            var wrong: UInt64 = 0
            while offset < hugePageSize {
                for extra: UInt64 in [0, 0x7, 0xFFF] {
                    let translation = pagemap.translate(CaseSupport.address(base + offset + extra))
                    if translation?.physical != first.address + offset + extra || translation?.pageSize != hugePageSize { wrong += 1 }
                }
                offset += pageSize
            }
            expect.equal(wrong, 0, "all 1536 offsets translate inside the one huge page")
            expect.that(pagemap.locatePage(CaseSupport.address(base + 0x12_3456)) ==
                        .present(entry: PageTableEntry(address: first.address, flags: [.present, .writable, .huge]), level: 2),
                        "the walk ends at level 2 on the huge entry")
            expect.that(pagemap.translate(CaseSupport.address(base + hugePageSize)) == nil, "the next 2 MiB is empty")
            expect.fails(.parentIsHugePage(level: 2), "no 4 KiB unmap inside a huge page") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + pageSize), frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(.parentIsHugePage(level: 2), "nor a 4 KiB map") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base + pageSize), to: first, flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            var unmapped: UInt64 = 0
            expect.succeeds("unmap the huge page") { () throws(UnmapError) in
                let flush = try pagemap.unmapHuge(CaseSupport.hugePage(base), frames: &PhysicalMemory.frames)
                unmapped = flush.unmappedFrame?.address ?? 0
                flush.ignore()
            }
            expect.equal(unmapped, first.address, "it hands back its first frame")
            expect.equal(UInt64(pagemap.tablesFreed), 2, "the PD and PDPT emptied with it")
            release(first)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("hugeAndSmallPagesShareAPageDirectory") { (expect: inout Expect) in
            guard let first = hugeFrames(&expect) else { return }
            var pagemap = CaseSupport.newPagemap()
            let small = CaseSupport.takeFrame()
            expect.succeeds("a huge page, then a small one in the next 2 MiB") { () throws(MapError) in
                try pagemap.mapHuge(CaseSupport.hugePage(base), to: CaseSupport.hugeFrame(first), flags: [], frames: &PhysicalMemory.frames).ignore()
                try pagemap.map(CaseSupport.page(base + hugePageSize), to: small, flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            expect.equal(UInt64(pagemap.tablesCreated), 3, "one PD holds both; the small page has a PT")
            expect.equal(pagemap.translate(CaseSupport.address(base + 0x1000))?.pageSize ?? 0, hugePageSize, "2 MiB below")
            expect.equal(pagemap.translate(CaseSupport.address(base + hugePageSize + 8))?.physical ?? 0, small.address + 8, "4 KiB above")
            expect.succeeds("unmap the small page") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + hugePageSize), frames: &PhysicalMemory.frames).ignore()
            }
            expect.equal(UInt64(pagemap.tablesFreed), 1, "its PT went; the PD stays for the huge page")
            expect.equal(pagemap.translate(CaseSupport.address(base))?.physical ?? 0, first.address, "the huge page is untouched")
            expect.succeeds("the small page again") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base + hugePageSize), to: small, flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(UnmapError.notMapped(page: base + hugePageSize, level: 2), "a huge unmap where a PT is") { () throws(UnmapError) in
                try pagemap.unmapHuge(CaseSupport.hugePage(base + hugePageSize), frames: &PhysicalMemory.frames).ignore()
            }
            expect.succeeds("unmap both") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + hugePageSize), frames: &PhysicalMemory.frames).ignore()
                try pagemap.unmapHuge(CaseSupport.hugePage(base), frames: &PhysicalMemory.frames).ignore()
            }
            PhysicalMemory.free(small)
            release(first)
            CaseSupport.release(pagemap, &expect)
        },
    ]

}
