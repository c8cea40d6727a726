// Cases that test the in-kernel test machinery itself.

enum MechanismCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        /// One expectation holds, the next fails with two values, a third holds:
        /// the host must see exactly the failing one, at its line, and a count of 3.
        GuestTestCase("mechanism_failingExpectation") { (expect: inout Expect) in
            expect.equal(1, 1, "one is one")
            expect.equal(0x1234, 0x5678, "a failure on purpose")
            expect.that(true, "the case goes on after a failure")
        },
        /// A planted bug: a page of the loaded address space is unmapped and
        /// mapped to another frame, and the TLB is never told (`ignore()` where
        /// the space is loaded). The page is read before and after; the console
        /// says which frame the second read saw (the first: the CPU kept the
        /// stale translation; the second: it walked the tables afresh). The TLB
        /// checker must fail the call at its end, naming the unmap below, either way.
        GuestTestCase("mechanism_missingInvalidation") { (expect: inout Expect) in
            let first = CaseSupport.takeFrame(), second = CaseSupport.takeFrame()
            KernelLayout.directMap(first.address).storeBytes(of: 0x1111, as: UInt64.self)
            KernelLayout.directMap(second.address).storeBytes(of: 0x2222, as: UInt64.self)
            let pointer = UnsafeRawPointer(bitPattern: UInt(stalePage))!
            do throws(MapError) {
                try KernelAddressSpace.pagemap.map(CaseSupport.page(stalePage), to: first, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            } catch {
                expect.that(false, "map the first frame")
                return
            }
            expect.equal(pointer.load(as: UInt64.self), 0x1111, "the page reads the first frame")
            do throws(UnmapError) {
                try KernelAddressSpace.pagemap.unmap(CaseSupport.page(stalePage), frames: &PhysicalMemory.frames).ignore()  // the planted bug
            } catch {
                expect.that(false, "unmap the first frame")
                return
            }
            do throws(MapError) {
                try KernelAddressSpace.pagemap.map(CaseSupport.page(stalePage), to: second, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).ignore()
            } catch {
                expect.that(false, "remap to the second frame")
                return
            }
            let seen = pointer.load(as: UInt64.self)
            Console.write("mechanism_missingInvalidation: after the remap the page read ")
            Console.writeHex(seen)
            Console.write(seen == 0x1111 ? " (the stale translation)\n" : " (the new translation)\n")
        },
        /// Two locks taken in one order, then in the other: the lock validator
        /// must end the run at the second order's inner acquire, naming it
        /// and where the first order was seen. No deadlock needs to happen.
        GuestTestCase("mechanism_lockInversionIsCaught") { (expect: inout Expect) in
            let first = SpinLock(.validatorTestFirst), second = SpinLock(.validatorTestSecond)
            first.acquire()
            second.acquire()  // the first order
            second.release()
            first.release()
            second.acquire()
            first.acquire()  // the planted inversion
            expect.that(false, "the validator let the inversion pass")
            first.release()
            second.release()
        },
        /// More unmaps left uninvalidated than the TLB checker keeps (its
        /// capacity, 64, and one more), then an invalidation of the first 64:
        /// the one past capacity is still stale, and the call must fail naming it.
        GuestTestCase("mechanism_obligationsPastCapacity") { (expect: inout Expect) in
            let frame = CaseSupport.takeFrame()
            let pages = UInt64(TLBChecker.capacity + 1)
            for index in 0..<pages {
                do throws(MapError) {
                    try KernelAddressSpace.pagemap.map(CaseSupport.page(crowdedPages + index * pageSize), to: frame, flags: [.noExecute],
                                                       frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
                } catch {
                    expect.that(false, "map a page", index)
                    return
                }
            }
            for index in 0..<pages {
                do throws(UnmapError) {
                    try KernelAddressSpace.pagemap.unmap(CaseSupport.page(crowdedPages + index * pageSize), frames: &PhysicalMemory.frames)
                        .ignore()  // each one planted
                } catch {
                    expect.that(false, "unmap a page", index)
                    return
                }
            }
            for index in 0..<pages - 1 { TLB.invalidate(crowdedPages + index * pageSize, at: .inGuestTestCase) }
            expect.that(true, "the last page was left stale")
        },
        /// A space of its own, published to the host, whose root frame is also
        /// mapped at a user address, writable: the host's page-table check must
        /// name the page table mapped as a page. Left as it is: the guest is failed.
        GuestTestCase("mechanism_pageTableMappedAtUserAddress") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            HostCheckTable.register(pagemap, .testCase)
            expect.succeeds("the root frame mapped at a user address") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(damagedPage), to: pagemap.root, flags: [.user, .writable],
                                frames: &PhysicalMemory.frames).ignore()  // never in CR3
            }
        },
        /// A space of its own, published to the host, mapping a frame at a user
        /// address, writable; then the frame goes back to the allocator with the
        /// mapping still there: the host's check must name the free frame mapped.
        GuestTestCase("mechanism_frameFreedWhileMapped") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            HostCheckTable.register(pagemap, .testCase)
            let frame = CaseSupport.takeFrame()
            expect.succeeds("a frame mapped at a user address") { () throws(MapError) in
                try pagemap.map(CaseSupport.page(damagedPage), to: frame, flags: [.user, .writable],
                                frames: &PhysicalMemory.frames).ignore()  // never in CR3
            }
            PhysicalMemory.free(frame)
        },
    ]

    /// Where the two cases below break the page tables.
    static let damagedPage: UInt64 = 0x4000_0000

}

extension MechanismCases {
    /// Where `missingInvalidation` maps its page: PML4 slot 3, as the live
    /// mapping cases, at an address none of them uses.
    static let stalePage: UInt64 = 0x0000_01C0_0000_0000

}

extension MechanismCases {
    /// Where `obligationsPastCapacity` maps its pages: PML4 slot 3, beside `stalePage`.
    static let crowdedPages: UInt64 = 0x0000_01D0_0000_0000

}
