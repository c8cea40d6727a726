// Cases that test the in-kernel test machinery itself.

enum MechanismCases {
    /// One expectation holds, the next fails with two values, a third holds:
    /// the host must see exactly the failing one, at its line, and a count of 3.
    static func failingExpectation(_ expect: inout Expect) {
        expect.equal(1, 1, "one is one")
        expect.equal(0x1234, 0x5678, "a failure on purpose")
        expect.that(true, "the case goes on after a failure")
    }

    /// Where the two cases below break the page tables.
    static let damagedPage: UInt64 = 0x4000_0000

    /// A space of its own, published to the host, whose root frame is also
    /// mapped at a user address, writable: the host's page-table check must
    /// name the page table mapped as a page. Left as it is: the guest is failed.
    static func pageTableMappedAtUserAddress(_ expect: inout Expect) {
        var pagemap = CaseSupport.newPagemap()
        HostCheckTable.register(pagemap, .testCase)
        expect.succeeds("the root frame mapped at a user address") { () throws(MapError) in
            try pagemap.map(CaseSupport.page(damagedPage), to: pagemap.root, flags: [.user, .writable],
                            frames: &PhysicalMemory.frames).ignore()  // never in CR3
        }
    }

    /// A space of its own, published to the host, mapping a frame at a user
    /// address, writable; then the frame goes back to the allocator with the
    /// mapping still there: the host's check must name the free frame mapped.
    static func frameFreedWhileMapped(_ expect: inout Expect) {
        var pagemap = CaseSupport.newPagemap()
        HostCheckTable.register(pagemap, .testCase)
        let frame = CaseSupport.takeFrame()
        expect.succeeds("a frame mapped at a user address") { () throws(MapError) in
            try pagemap.map(CaseSupport.page(damagedPage), to: frame, flags: [.user, .writable],
                            frames: &PhysicalMemory.frames).ignore()  // never in CR3
        }
        PhysicalMemory.free(frame)
    }
}
