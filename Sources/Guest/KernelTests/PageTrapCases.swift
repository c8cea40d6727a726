// The page trap's decision for every reason, over a memory space as a
// process has one: the decision alone, then the trap as a process meets it.

private let userLimit: UInt64 = 0x0000_0080_0000_0000

enum PageTrapCases {
    private static let user = PageFaultError.user, write = PageFaultError.write, fetch = PageFaultError.instructionFetch
    private static let protection = PageFaultError.protection, reservedBit = PageFaultError.reservedBit

    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("pageTrapDecidesEachReason") { (expect: inout Expect) in
            var pagemap = CaseSupport.newPagemap()
            var space = MemorySpace(base: 0, limit: userLimit)
            let readWrite: UInt64 = 0x10000, readOnly: UInt64 = 0x20000, noExecute: UInt64 = 0x30000, guardPage: UInt64 = 0x40000
            do throws(MemorySpaceError) {
                for (start, backing, flags) in [(readWrite, Backing.lazy, PageTableFlags([.user, .writable])),
                                                (readOnly, .lazy, [.user]), (noExecute, .lazy, [.user, .writable, .noExecute]),
                                                (guardPage, .guardPage, [])] {
                    try space.reserve(at: start, pages: 4, backing: backing, flags: flags, pagemap: &pagemap,
                                      frames: &PhysicalMemory.frames, zero: { _ in }, invalidate: { _ in })
                }
            } catch {
                expect.that(false, "the reservations fit")
            }
            func decide(_ address: UInt64, _ errorCode: UInt64) -> PageTrapDecision {
                PageTrap.decide(address: address, errorCode: errorCode, space: space, userLimit: userLimit)
            }
            expect.that(decide(readWrite, 0) == .panic, "a kernel-mode fault is the kernel's bug")
            expect.that(decide(readWrite, user | reservedBit | protection) == .faultProcess(.reservedBit), "a reserved bit")
            expect.that(decide(userLimit, user) == .faultProcess(.kernelAddress), "the kernel's half")
            expect.that(decide(readOnly, user | protection | write) == .faultProcess(.writeToReadOnly), "a write to a read-only mapping")
            expect.that(decide(noExecute, user | protection | fetch) == .faultProcess(.executeNoExecute), "a fetch from a no-execute mapping")
            expect.that(decide(readWrite, user | protection) == .faultProcess(.notAllocated), "a read the mapping forbids")
            expect.that(decide(0x90000, user) == .faultProcess(.notAllocated), "outside every reservation")
            expect.that(decide(guardPage + 0x10, user | write) == .faultProcess(.guardPage), "a guard page")
            expect.that(decide(readOnly + 0x1000, user | write) == .faultProcess(.writeToReadOnly), "a first write to a read-only reservation")
            expect.that(decide(noExecute + 0x2000, user | fetch) == .faultProcess(.executeNoExecute), "a first fetch from no-execute")
            expect.that(decide(readWrite + 0x3FFF, user | write) == .reallocate(flags: [.user, .writable]), "demand paging, with its flags")
            expect.that(decide(readOnly, user) == .reallocate(flags: [.user]), "a first read of a read-only page")
            expect.that(decide(readWrite + 0x4000, user) == .faultProcess(.notAllocated), "one byte past the end")
            CaseSupport.release(pagemap, &expect)
        },
        /// A program that touches ten lazy pages: ten decisions to reallocate,
        /// every frame back afterwards.
        GuestTestCase("demandPagingConservesFrames") { (expect: inout Expect) in
            let before = PhysicalMemory.frames.freeFrames
            var index = -1
            for candidate in 0..<ProcessRunner.programCount() {
                let name = ProcessRunner.program(candidate).name
                if name.count == 10 && name.elementsEqual("lazy-touch".utf8) { index = candidate }
            }
            expect.that(index >= 0, "the lazy-touch program is built in")
            guard index >= 0 else { return }
            expect.that(ProcessRunner.run(index, reportFaults: false), "it runs")
            let run = ProcessRunner.outcome()
            expect.that(run.outcome == .exited(status: 0), "and exits with 0")
            expect.equal(run.reallocations, 10, "after ten demand faults")
            expect.equal(PhysicalMemory.frames.freeFrames, before, "its process and pages all went back")
        },
    ]

}
