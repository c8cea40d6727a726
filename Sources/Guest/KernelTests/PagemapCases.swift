// The Pagemap over the kernel's real frames: tables built and freed, flags,
// errors, lazy entries. Each case uses a private Pagemap.

private let base: UInt64 = 0x0000_0040_0000_0000

enum PagemapCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("translateAtEveryOffsetOfAPage") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            expect.succeeds("map") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: frame, flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            for offset: UInt64 in [0, 1, 0x7FF, 0x800, 0xFF8, 0xFFF] {
                let translation = pagemap.translate(CaseSupport.address(base + offset))
                expect.equal(translation?.physical ?? 0, frame.address + offset, "physical at the same offset", offset)
                expect.equal(translation?.pageSize ?? 0, pageSize, "a 4 KiB page")
            }
            expect.that(pagemap.translate(CaseSupport.address(base + pageSize)) == nil, "the next page is not mapped")
            expect.that(pagemap.translate(CaseSupport.address(base - 1)) == nil, "nor the one before")
            expect.succeeds("unmap") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("tablesAreBuiltPerLevelAsNeeded") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            let addresses: [UInt64] = [base, base + pageSize, base + hugePageSize, base + (1 << 30), base + (512 << 30)]
            // A PDPT, PD and PT; nothing new; a PT; a PD and PT; a PDPT, PD and PT.
            let expectedTotals: [UInt64] = [3, 3, 4, 6, 9]
            for (index, address) in addresses.enumerated() {
                expect.succeeds("map") { () throws(MapError) in
                    try pagemap.map(CaseSupport.page(address), to: frame, flags: [], frames: &PhysicalMemory.frames).ignore()
                }
                expect.equal(UInt64(pagemap.tablesCreated), expectedTotals[index], "tables created so far", address)
            }
            for address in addresses {
                expect.succeeds("unmap") { () throws(UnmapError) in
                    try pagemap.unmap(CaseSupport.page(address), frames: &PhysicalMemory.frames).ignore()
                }
            }
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("tablesAreFreedExactlyWhenTheyEmpty") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            for index in 0..<UInt64(3) {
                expect.succeeds("map") { () throws(MapError) in
                    try pagemap.map(CaseSupport.page(base + index * pageSize), to: frame, flags: [], frames: &PhysicalMemory.frames).ignore()
                }
            }
            for index in 0..<UInt64(3) {
                expect.equal(UInt64(pagemap.tablesFreed), 0, "a table with entries left stays", index)
                expect.succeeds("unmap") { () throws(UnmapError) in
                    try pagemap.unmap(CaseSupport.page(base + index * pageSize), frames: &PhysicalMemory.frames).ignore()
                }
            }
            expect.equal(UInt64(pagemap.tablesFreed), 3, "the last unmap freed the PT, the PD and the PDPT")
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("parentsWidenToGrantTheLeaf") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            expect.succeeds("map a supervisor read-only page") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: frame, flags: [.noExecute], frames: &PhysicalMemory.frames).ignore()
            }
            for level in 2...4 {
                let flags = CaseSupport.entryFlags(pagemap, base, level: level)
                expect.that(!flags.contains(.user) && !flags.contains(.writable), "parents grant no more than the leaf", UInt64(level))
            }
            expect.succeeds("map a user writable page beside it") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base + pageSize), to: frame, flags: [.user, .writable], frames: &PhysicalMemory.frames).ignore()
            }
            for level in 2...4 {
                let flags = CaseSupport.entryFlags(pagemap, base, level: level)
                expect.that(flags.contains(.user) && flags.contains(.writable), "the parents widened to user and writable", UInt64(level))
                expect.that(!flags.contains(.noExecute), "and a parent never forbids execution", UInt64(level))
            }
            let first = pagemap.translate(CaseSupport.address(base))?.flags ?? []
            expect.that(!first.contains(.user) && !first.contains(.writable) && first.contains(.noExecute) == PageTableEntry.noExecuteAvailable,
                        "the first page's own leaf still restricts it", first.rawValue)
            let second = pagemap.translate(CaseSupport.address(base + pageSize))?.flags ?? []
            expect.that(second.contains(.user) && second.contains(.writable) && !second.contains(.noExecute),
                        "the second page gets what it asked for", second.rawValue)
            for address in [base, base + pageSize] {
                expect.succeeds("unmap") { () throws(UnmapError) in
                    try pagemap.unmap(CaseSupport.page(address), frames: &PhysicalMemory.frames).ignore()
                }
            }
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("aliasesOfOneFrameKeepTheirOwnFlags") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            let aliases: [(UInt64, PageTableFlags)] = [(base, [.writable]), (base + (1 << 30), [.noExecute]),
                                                       (base + (2 << 30), [.user, .writable, .noExecute])]
            for (address, flags) in aliases {
                expect.succeeds("map an alias") { () throws(MapError) in
                    try pagemap.map(CaseSupport.page(address), to: frame, flags: flags, frames: &PhysicalMemory.frames).ignore()
                }
            }
            for (address, flags) in aliases {
                let translation = pagemap.translate(CaseSupport.address(address + 0x10))
                expect.equal(translation?.physical ?? 0, frame.address + 0x10, "every alias reaches the one frame", address)
                expect.equal(translation?.flags.rawValue ?? 0, CaseSupport.asMapped(flags.union(.present)).rawValue, "with its own flags", address)
            }
            for (address, _) in aliases {
                var unmapped: UInt64 = 0
                expect.succeeds("unmap an alias") { () throws(UnmapError) in
                    let flush = try pagemap.unmap(CaseSupport.page(address), frames: &PhysicalMemory.frames)
                    unmapped = flush.unmappedFrame?.address ?? 0
                    flush.ignore()
                }
                expect.equal(unmapped, frame.address, "each unmap hands back the shared frame", address)
                expect.that(!PhysicalMemory.frames.isFree(frame), "unmapping an alias never frees the frame")
            }
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("remappingNeedsAnUnmapFirst") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let first = CaseSupport.takeFrame(), second = CaseSupport.takeFrame()
            expect.succeeds("map") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: first, flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(.alreadyMapped(page: base, frame: first), "mapping over a mapping is refused") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: second, flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            expect.equal(pagemap.translate(CaseSupport.address(base))?.physical ?? 0, first.address, "the refused map changed nothing")
            expect.succeeds("unmap") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            expect.succeeds("then map the other frame") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: second, flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            let translation = pagemap.translate(CaseSupport.address(base))
            expect.equal(translation?.physical ?? 0, second.address, "the page now leads to the second frame")
            expect.that(translation?.flags.contains(.writable) == true, "with the new flags")
            expect.equal(UInt64(pagemap.tablesFreed), 3, "unmapping the only page freed its three tables")
            expect.equal(UInt64(pagemap.tablesCreated), 6, "and the new map built them again")
            expect.succeeds("unmap") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            PhysicalMemory.free(first)
            PhysicalMemory.free(second)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("unmapNamesTheLevelWhereTheWalkStopped") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            expect.fails(.notMapped(page: base, level: 4), "an empty Pagemap stops at the PML4") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            expect.succeeds("map") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: frame, flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(.notMapped(page: base + (1 << 30), level: 3), "another GiB stops at the PDPT") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + (1 << 30)), frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(.notMapped(page: base + hugePageSize, level: 2), "another 2 MiB stops at the PD") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + hugePageSize), frames: &PhysicalMemory.frames).ignore()
            }
            expect.fails(.notMapped(page: base + pageSize, level: 1), "the next page stops at the PT") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base + pageSize), frames: &PhysicalMemory.frames).ignore()
            }
            expect.equal(UInt64(pagemap.tablesCreated), 3, "a refused unmap builds nothing")
            expect.succeeds("unmap") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("malformedAddressesAreRefused") { (expect: inout Expect) in
            expect.that(VirtualAddress(0x0000_8000_0000_0000) == nil, "the first non-canonical address is not an address")
            expect.that(VirtualAddress(0xFFFF_7FFF_FFFF_FFFF) == nil, "nor the last")
            expect.that(VirtualAddress(0xFFFF_8000_0000_0000) != nil, "the upper half is canonical")
            expect.that(Page(startingAt: base + 1) == nil, "a page starts at a multiple of 4 KiB")
            expect.that(HugePage(startingAt: base + pageSize) == nil, "a huge page starts at a multiple of 2 MiB")
            expect.that(HugePage(startingAt: 0x0000_8000_0000_0000) == nil, "and at a canonical address")
            expect.that(HugeFrame(startingAt: pageSize) == nil, "and maps a 2 MiB-aligned physical address")
            expect.that(HugeFrame(startingAt: hugePageSize)?.first == Frame(number: 512), "whose first frame is its start")
        },
        GuestTestCase("lazyEntriesAreKnownButNotPresent") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            expect.succeeds("reserve lazily") { () throws(MapError) in
                try pagemap.reserveLazily(CaseSupport.page(base), flags: [.writable, .user], frames: &PhysicalMemory.frames)
            }
            expect.that(pagemap.locatePage(CaseSupport.address(base)) == .notPresent(level: 1, lazy: true), "a lazy leaf")
            expect.that(pagemap.translate(CaseSupport.address(base)) == nil, "translates to nothing")
            expect.that(pagemap.locatePage(CaseSupport.address(base + pageSize)) == .notPresent(level: 1, lazy: false),
                        "its neighbour is plainly empty")
            var hadFrame = true
            expect.succeeds("unmap the lazy page") { () throws(UnmapError) in
                let flush = try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames)
                hadFrame = flush.unmappedFrame != nil
                flush.ignore()
            }
            expect.that(!hadFrame, "a lazy page had no frame")
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("mapRangeCrossesTableBoundaries") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            guard let first = PhysicalMemory.frames.allocateContiguous(count: 600) else { return expect.that(false, "600 frames") }
            // From the last entry of one PT on, across into the next PT.
            let start = base + 511 * pageSize
            expect.succeeds("map 600 pages at once") { () throws(MapError) in
                try pagemap.mapRange(CaseSupport.page(start), to: first, count: 600, flags: [.writable], frames: &PhysicalMemory.frames)
                    .ignore()
            }
            for index: UInt64 in [0, 1, 2, 512, 513, 599] {
                expect.equal(pagemap.translate(CaseSupport.address(start + index * pageSize))?.physical ?? 0,
                             first.address + index * pageSize, "page i maps frame i", index)
            }
            expect.that(pagemap.translate(CaseSupport.address(start + 600 * pageSize)) == nil, "and no more")
            expect.equal(UInt64(pagemap.tablesCreated), 5, "a PDPT, a PD and three PTs: 1 + 512 + 87 entries")
            for index in 0..<UInt64(600) {
                expect.succeeds("unmap each page") { () throws(UnmapError) in
                    try pagemap.unmap(CaseSupport.page(start + index * pageSize), frames: &PhysicalMemory.frames).ignore()
                }
            }
            for index in 0..<UInt64(600) { PhysicalMemory.free(Frame(number: first.number + index)) }
            CaseSupport.release(pagemap, &expect)
        },
    ]

}
