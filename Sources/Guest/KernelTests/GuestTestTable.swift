// Every in-kernel test case, by name: the one list. The host's
// GuestKernelTests has one XCTest method per line here, generated from this
// file at build time. `mechanism` cases test the machinery itself (one fails
// on purpose) and are run by name from LiveGuestTests, not as kernel tests.

enum GuestTestTable {
    static func cases() -> [GuestTestCase] {
        [
            GuestTestCase("mechanism_failingExpectation", MechanismCases.failingExpectation),
            GuestTestCase("framesAreHandedOutOnce", FrameCases.framesAreHandedOutOnce),
        ]
    }
}
