// The words of a failed guest assertion or in-kernel expectation: its line
// and the values that made it fail, every one of them. The record's text is
// the condition, a NUL, then the file.

public struct AssertionRecord: Wire {
    public var line: UInt64
    public var values: AssertionValues

    public init(line: UInt64, values: AssertionValues) {
        self.line = line
        self.values = values
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        line = try decoder.word()
        values = try decoder.decode()
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(line)
        encoder.encode(values)
    }
}

/// An assertion's values: on the host an array, in the kernel the
/// caller's values where they lie (no copy on the failure path).
public struct AssertionValues: Wire {
#if GUEST_KERNEL
    let values: UnsafeBufferPointer<UInt64>

    public init(_ values: UnsafeBufferPointer<UInt64>) { self.values = values }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        throw .invalidValue(index: decoder.index, value: 0)  // the kernel never reads an assertion
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(values.count))
        for value in values { encoder.word(value) }
    }
#else
    public var values: [UInt64]

    public init(_ values: [UInt64]) { self.values = values }

    public init(from decoder: inout WireDecoder) throws(WireError) { values = try decoder.decode() }

    public func encode(to encoder: inout WireEncoder) { encoder.encode(values) }
#endif
}
