// The worked example of an in-guest test case (docs/in-guest-tests.md). A
// case runs inside the kernel over the real memory manager; each failed
// expectation reaches the host at once with its file, line and values, and
// the case goes on. Copy it to start a *Cases file of your own, and join
// the file's list in GuestTestTable.swift.

private let base: UInt64 = 0x0000_0050_0000_0000

enum ExampleCases {
    static let cases: [GuestTestCase] = [
        GuestTestCase("exampleMapTranslateAndRefuseTwice") { (expect: inout Expect) in
            // A private Pagemap whose tables come from the kernel's real frame
            // allocator; never loaded in CR3, so no TLB holds its entries.
            var pagemap = CaseSupport.newPagemap()
            let frame = CaseSupport.takeFrame()
            // succeeds/fails take a closure typed with the operation's own error.
            expect.succeeds("map") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: frame, flags: [.writable], frames: &PhysicalMemory.frames).ignore()
            }
            let translation = pagemap.translate(CaseSupport.address(base + 0x10))
            expect.equal(translation?.physical ?? 0, frame.address + 0x10, "the same offset in the frame")
            expect.that(translation?.flags.contains(.writable) ?? false, "writable, as mapped")
            expect.fails(MapError.alreadyMapped(page: base, frame: frame), "a second map of the page") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(base), to: frame, flags: [], frames: &PhysicalMemory.frames).ignore()
            }
            expect.succeeds("unmap") { () throws(UnmapError) in
                try pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).ignore()
            }
            // Give back what the case took: the runner checks the free count
            // is what it was, and `release` that every table built was freed.
            PhysicalMemory.free(frame)
            CaseSupport.release(pagemap, &expect)
        },
    ]
}
