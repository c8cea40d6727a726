// Every in-kernel test case: each *Cases file's own list, in this order.
// The host's GuestKernelTests has one XCTest method per case, generated at
// build time from those lists (generate-test-methods.sh), and
// GuestTestMechanismTests checks the methods against what this kernel
// lists. `mechanism_` cases test the machinery itself (one fails on
// purpose) and are run by name from GuestTestMechanismTests.

enum GuestTestTable {
    static func cases() -> [GuestTestCase] {
        MechanismCases.cases
            + FrameCases.cases
            + PagemapCases.cases
            + HugePageCases.cases
            + LiveMappingCases.cases
            + MemorySpaceCases.cases
            + PageTrapCases.cases
            + ConservationCases.cases
            + HostCheckTableCases.cases
            + ExampleCases.cases
    }
}
