// Frames conserved across everything at once: tables, huge pages, spaces.

enum ConservationCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("framesAreConservedAcrossAMixedWorkload") { (expect: inout Expect) in
            let before = PhysicalMemory.frames.freeFrames
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: 0x0000_0050_0000_0000, limit: 0x0000_0050_4000_0000)
            var frames: [Frame] = []
            for index in 0..<UInt64(40) {
                let frame = CaseSupport.takeFrame()
                frames.append(frame)
                expect.succeeds("map scattered pages") { () throws(MapError) in
                    try pagemap.map(CaseSupport.page(0x0000_0040_0000_0000 + index * 0x20_3000), to: frame, flags: [.writable],
                                    frames: &PhysicalMemory.frames).ignore()
                }
            }
            guard let huge = PhysicalMemory.frames.allocateContiguous(count: 512, alignment: 512) else {
                return expect.that(false, "a 2 MiB run is free")
            }
            expect.succeeds("and a huge page") { () throws(MapError) in
                try pagemap.mapHuge(CaseSupport.hugePage(0x0000_0060_0000_0000), to: CaseSupport.hugeFrame(huge), flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            var starts: [UInt64] = []
            do throws(MemorySpaceError) {
                for pages: UInt64 in [1, 7, 64, 3] {
                    starts.append(try space.reserve(pages: pages, backing: pages % 2 == 1 ? .eager : .lazy, flags: [.writable],
                                                    pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: CaseSupport.zero, invalidate: { _ in }))
                }
                for start in starts.reversed() {
                    try space.free(start, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
                }
            } catch {
                expect.that(false, "the reservations fit")
            }
            for index in 0..<UInt64(40) {
                expect.succeeds("unmap the scattered pages") { () throws(UnmapError) in
                    try pagemap.unmap(CaseSupport.page(0x0000_0040_0000_0000 + index * 0x20_3000), frames: &PhysicalMemory.frames).ignore()
                }
            }
            expect.succeeds("unmap the huge page") { () throws(UnmapError) in
                try pagemap.unmapHuge(CaseSupport.hugePage(0x0000_0060_0000_0000), frames: &PhysicalMemory.frames).ignore()
            }
            for frame in frames { PhysicalMemory.free(frame) }
            for index in 0..<UInt64(512) { PhysicalMemory.free(Frame(number: huge.number + index)) }
            CaseSupport.release(pagemap, &expect)
            expect.equal(PhysicalMemory.frames.freeFrames, before, "every frame came back")
        },
    ]

}
