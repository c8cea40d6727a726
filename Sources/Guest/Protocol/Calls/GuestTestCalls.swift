// Calls that run the test cases compiled into the kernel (Sources/Guest/KernelTests).

/// The in-kernel test cases' names, in the order of the kernel's table.
public struct ListGuestTests: GuestCall, Equatable, Sendable {
    public typealias Reply = [WireBytes]
    public static let code = CallCode.listGuestTests
    public init() {}
    public init(from decoder: inout WireDecoder) throws(WireError) {}
    public func encode(to encoder: inout WireEncoder) {}
}

/// Runs in-kernel test case `index`. Each failed expectation is sent as an
/// `expectationFailed` record while it runs; the reply counts them.
public struct RunGuestTest: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var expectations: UInt64
        public var failures: UInt64
        public init(expectations: UInt64, failures: UInt64) { self.expectations = expectations; self.failures = failures }
        public init(from decoder: inout WireDecoder) throws(WireError) {
            expectations = try decoder.word(); failures = try decoder.word(in: 0...expectations)
        }
        public func encode(to encoder: inout WireEncoder) { encoder.word(expectations); encoder.word(failures) }
    }
    public static let code = CallCode.runGuestTest
    public var index: UInt64
    public init(index: UInt64) { self.index = index }
    public init(from decoder: inout WireDecoder) throws(WireError) { index = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(index) }
}
