// Memory spaces over a private Pagemap: where reservations go, what eager
// and lazy backing cost, the high-water mark and its fallback.

private let base: UInt64 = 0x0000_0040_0000_0000

enum MemorySpaceCases {
    private static func zero(_ frame: Frame) { CaseSupport.zero(frame) }

    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("eagerBacksEveryPageLazyNone") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: base, limit: base + (1 << 30))
            let before = PhysicalMemory.frames.freeFrames
            do throws(MemorySpaceError) {
                let eager = try space.reserve(pages: 5, backing: .eager, flags: [.writable, .noExecute], pagemap: &pagemap,
                                              frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(before - PhysicalMemory.frames.freeFrames, 5 + 3, "five frames and a PDPT, PD and PT")
                for index in 0..<UInt64(5) {
                    let translation = pagemap.translate(CaseSupport.address(eager + index * pageSize))
                    expect.that(translation != nil, "every eager page is mapped now", index)
                    expect.that(translation?.flags.contains(.writable) == true && translation?.flags.contains(.noExecute) == PageTableEntry.noExecuteAvailable,
                                "with the reservation's flags", index)
                }
                let taken = PhysicalMemory.frames.freeFrames
                let lazy = try space.reserve(pages: 100, backing: .lazy, flags: [.writable], pagemap: &pagemap,
                                             frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(lazy, eager + 5 * pageSize, "the lazy one follows at the mark")
                expect.equal(PhysicalMemory.frames.freeFrames, taken, "a lazy reservation takes no frame")
                expect.that(pagemap.translate(CaseSupport.address(lazy)) == nil, "and maps nothing")
                expect.that(space.reservation(containing: lazy + 99 * pageSize)?.backing == .lazy, "but the space knows it")
                try space.free(lazy, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
                try space.free(eager, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
            } catch {
                expect.that(false, "the reservations succeed")
            }
            expect.equal(PhysicalMemory.frames.freeFrames, before, "every frame and table back (the root was taken before)")
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("fallbackAfterTheMarkPassesTheEnd") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: base, limit: base + 16 * pageSize)
            do throws(MemorySpaceError) {
                let first = try space.reserve(pages: 8, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                let second = try space.reserve(pages: 8, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(second, first + 8 * pageSize, "the mark moves up")
                expect.equal(space.highWaterMark, base + 16 * pageSize, "and reaches the end")
                try space.free(first, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
                expect.equal(space.highWaterMark, base + 16 * pageSize, "a free below the top leaves the mark")
                let gap = try space.reserve(pages: 4, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(gap, base, "past the end, the lowest gap is used")
                expect.equal(UInt64(space.fallbackCount), 1, "and counted as a fallback")
                let next = try space.reserve(pages: 4, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(next, base + 4 * pageSize, "the next gap right after it")
                expect.equal(UInt64(space.fallbackCount), 2, "a second fallback")
            } catch {
                expect.that(false, "the reservations fit")
            }
            do throws(MemorySpaceError) {
                _ = try space.reserve(pages: 1, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.that(false, "a full space refuses")
            } catch {
                expect.that(error == .outOfAddressSpace(pages: 1), "out of address space, naming the pages")
            }
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("freeingTheTopLowersTheMark") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: base, limit: base + (1 << 30))
            do throws(MemorySpaceError) {
                let first = try space.reserve(pages: 3, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                let second = try space.reserve(pages: 5, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                try space.free(second, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
                expect.equal(space.highWaterMark, first + 3 * pageSize, "the mark comes back to the reservation below")
                let again = try space.reserve(pages: 5, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.equal(again, second, "and the same range is handed out again, without a fallback")
                expect.equal(UInt64(space.fallbackCount), 0, "no fallback")
            } catch {
                expect.that(false, "the reservations fit")
            }
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("badReservationsAreRefused") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: base, limit: base + 64 * pageSize)
            do throws(MemorySpaceError) {
                _ = try space.reserve(pages: 0, backing: .eager, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.that(false, "zero pages is refused")
            } catch {
                expect.that(error == .invalidSize(pages: 0), "zero pages is an invalid size")
            }
            do throws(MemorySpaceError) {
                _ = try space.reserve(pages: 65, backing: .lazy, flags: [], pagemap: &pagemap, frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.that(false, "more than the space is refused")
            } catch {
                expect.that(error == .invalidSize(pages: 65), "more pages than the space is an invalid size")
            }
            do throws(MemorySpaceError) {
                try space.reserve(at: base + 4 * pageSize, pages: 4, backing: .lazy, flags: [], pagemap: &pagemap,
                                  frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                try space.reserve(at: base + 6 * pageSize, pages: 4, backing: .lazy, flags: [], pagemap: &pagemap,
                                  frames: &PhysicalMemory.frames, zero: zero, invalidate: { _ in })
                expect.that(false, "an overlapping fixed reservation is refused")
            } catch {
                expect.that(error == .overlaps(address: base + 6 * pageSize), "an overlap names its start")
            }
            do throws(MemorySpaceError) {
                try space.free(base + pageSize, pagemap: &pagemap, frames: &PhysicalMemory.frames, invalidate: { _ in })
                expect.that(false, "freeing where no reservation starts is refused")
            } catch {
                expect.that(error == .notReserved(address: base + pageSize), "not reserved, naming the address")
            }
            expect.equal(UInt64(space.reservations.count), 1, "only the first fixed reservation stands")
            CaseSupport.release(pagemap, &expect)
        },
        GuestTestCase("eagerOutOfFramesGivesEverythingBack") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: base, limit: base + (512 << 30))
            // Leave 20 frames free, taking the rest in large runs (one page at a
            // time would cost seconds of emulated ring 0).
            var runs: [(Frame, UInt64)] = []
            var run: UInt64 = 4096
            while PhysicalMemory.frames.freeFrames > 20 && run > 0 {
                let count = min(run, PhysicalMemory.frames.freeFrames - 20)
                if let first = PhysicalMemory.frames.allocateContiguous(count: count) { runs.append((first, count)) } else { run /= 2 }
            }
            let before = PhysicalMemory.frames.freeFrames
            expect.equal(before, 20, "20 frames left")
            do throws(MemorySpaceError) {
                _ = try space.reserve(pages: 30, backing: .eager, flags: [.writable], pagemap: &pagemap,
                                      frames: &PhysicalMemory.frames, zero: CaseSupport.zero, invalidate: { _ in })
                expect.that(false, "30 eager pages do not fit in 20 frames")
            } catch {
                expect.that(error == .outOfFrames, "out of frames for a page")
            }
            expect.equal(PhysicalMemory.frames.freeFrames, before, "every frame taken on the way went back")
            expect.equal(UInt64(space.reservations.count), 0, "and no reservation was recorded")
            expect.equal(space.highWaterMark, base, "nor the mark moved")
            for (first, count) in runs {
                do throws(FrameError) {
                    try PhysicalMemory.frames.free(FrameRange(start: first.number, count: count))
                } catch {
                    expect.that(false, "a run taken is freed in one piece", first.address)
                }
            }
            CaseSupport.release(pagemap, &expect)
        },
    ]

}
