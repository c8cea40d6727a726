// Words a call carries unchanged (Echo's). On the host they are an array.
// In the kernel they are a view of the command record, valid while the call
// runs, so that a round trip allocates nothing: an array on the kernel heap
// cost about 250 us of emulated ring 0 a call.

public struct WordList: Wire {
#if GUEST_KERNEL
    let words: UnsafeRawBufferPointer

    public var count: Int { words.count / 8 }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let count = try decoder.count(wordsEach: 1)
        words = try decoder.view(words: count)
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(count))
        for index in 0..<count {
            encoder.word(UInt64(littleEndian: words.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
        }
    }
#else
    public var values: [UInt64]

    public init(_ values: [UInt64]) { self.values = values }

    public init(from decoder: inout WireDecoder) throws(WireError) { values = try decoder.decode() }

    public func encode(to encoder: inout WireEncoder) { encoder.encode(values) }
#endif
}

#if !GUEST_KERNEL
extension WordList: Equatable, Sendable {}
#endif
