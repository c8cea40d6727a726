// Calls that run the test cases compiled into the kernel (Sources/Guest/KernelTests).

/// The in-kernel test cases' names, in the order of the kernel's table.
// wire: call 33
public struct ListGuestTests: GuestCall, Equatable, Sendable {
    public typealias Reply = [WireBytes]
    public init() {}
}

/// Runs in-kernel test case `index`. Each failed expectation is sent as an
/// `expectationFailed` record while it runs; the reply counts them.
// wire: call 34
public struct RunGuestTest: GuestCall, Equatable, Sendable {
    // wire: failures in 0...expectations
    public struct Reply: Wire, Equatable, Sendable {
        public var expectations: UInt64
        public var failures: UInt64
        public init(expectations: UInt64, failures: UInt64) { self.expectations = expectations; self.failures = failures }
    }
    public var index: UInt64
    public init(index: UInt64) { self.index = index }
}
