// Cases that test the in-kernel test machinery itself.

enum MechanismCases {
    /// One expectation holds, the next fails with two values, a third holds:
    /// the host must see exactly the failing one, at its line, and a count of 3.
    static func failingExpectation(_ expect: inout Expect) {
        expect.equal(1, 1, "one is one")
        expect.equal(0x1234, 0x5678, "a failure on purpose")
        expect.that(true, "the case goes on after a failure")
    }
}
