// What the kernel publishes for the host's page-table check
// (HostCheckTable): a space is in the table exactly while it lives.

enum HostCheckTableCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        /// The kernel's own space is published; the access checks' scratch
        /// space joins it while it lives and leaves when it is torn down.
        GuestTestCase("spacesArePublishedWhileTheyLive") { (expect: inout Expect) in
            expect.that(HostCheckTable.kind(ofRoot: KernelAddressSpace.pagemap.root.address) == .kernel, "the kernel's space is published")
            let before = HostCheckTable.spaceCount
            do throws(CallError) {
                var space = try AccessCheckSpace()
                let root = space.pagemap.root.address
                expect.that(HostCheckTable.kind(ofRoot: root) == .accessChecks, "the scratch space is published", root)
                expect.equal(HostCheckTable.spaceCount, before + 1, "one more space")
                space.tearDown()
                expect.that(HostCheckTable.kind(ofRoot: root) == nil, "and gone once torn down", root)
                expect.equal(HostCheckTable.spaceCount, before, "as many as before")
            } catch {
                expect.that(false, "the scratch space is made")
            }
        },
    ]

}
