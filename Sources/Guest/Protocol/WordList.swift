// Words carried unchanged: Echo's, and a failed assertion's values. On the
// host they are an array. In the kernel they are a view of words where they
// lie (the command record, the caller's values), so that nothing is copied
// onto the kernel heap: an array there cost about 250 us of emulated ring 0
// a call.

public struct WordList: WirePrimitive {
#if GUEST_KERNEL
    let words: UnsafeRawBufferPointer

    public var count: Int { words.count / 8 }

    /// A view of `words`, little-endian 64-bit words, valid while they are.
    public init(_ words: UnsafeRawBufferPointer) { self.words = words }

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
