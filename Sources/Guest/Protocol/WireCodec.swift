// The one codec every call, reply and error uses, on both sides: values are
// 64-bit words in a record, written and read in declaration order. A decoder
// never reads past the words it was given and never trusts a count.

/// Why words are not the value they should be.
public enum WireError: Error, Equatable, Sendable {
    /// The words ended before value number `index` was read.
    case missingWord(index: Int)
    /// Word `index` holds `value`, which the field it belongs to cannot take.
    case invalidValue(index: Int, value: UInt64)
    /// `count` words were left over after the whole value was read.
    case extraWords(count: Int)
    /// The encoded value did not fit in one record.
    case tooLong
}

/// Values are written straight into the record they travel in: the
/// encoder is the record's writer. (A separate encoder struct, copied in and
/// out around each reply, cost the guest about 40 emulated instructions a
/// call; see RecordCoding.swift for why that matters.)
public typealias WireEncoder = RecordWriter

extension RecordWriter {
    public mutating func word(_ value: UInt64) { append(value) }

    public mutating func encode<Value: Wire>(_ value: Value) { value.encode(to: &self) }

    /// Bytes as a count word, then eight to a word, the last one zero-padded.
    public mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        word(UInt64(bytes.count))
        // Whole words at once (byte i of a word is bits 8i..8i+7: little
        // endian, as the machine is); a byte loop cost the guest about six
        // emulated instructions a byte.
        var index = bytes.count & ~7
        appendWords(UnsafeRawBufferPointer(rebasing: bytes[0..<index]))
        while index < bytes.count {
            var packed: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64, index < bytes.count {
                packed |= UInt64(bytes[index]) << shift
                shift += 8
                index += 1
            }
            word(packed)
        }
    }
}

/// Reads values from words, in the order they were written.
public struct WireDecoder {
    private let base: UnsafeRawPointer?
    private let count: Int
    public private(set) var index = 0

    /// `words`: little-endian 64-bit words (a partial last word is ignored).
    public init(words: UnsafeRawBufferPointer) {
        base = words.baseAddress
        count = words.count / 8
    }

    /// The words of `record` from word `first` on, read where they lie.
    public init(record: RecordView, from first: Int) {
        let words = record.words(from: first)
        base = words.baseAddress
        count = words.count / 8
    }

    public var remaining: Int { count - index }

    public mutating func word() throws(WireError) -> UInt64 {
        guard index < count, let base else { throw .missingWord(index: index) }
        let value = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self))
        index += 1
        return value
    }

    /// The next `words` words as they lie, without copying them.
    public mutating func view(words: Int) throws(WireError) -> UnsafeRawBufferPointer {
        guard words >= 0, words <= remaining, let base else { throw .missingWord(index: index + max(words, 0)) }
        let view = UnsafeRawBufferPointer(start: base + index &* 8, count: words &* 8)
        index += words
        return view
    }

    /// A word in `lower...upper`, as a `Value` exactly: generated decoders'
    /// ranges, whose bounds may be words read before (bounds that cross
    /// refuse the word instead of trapping).
    public mutating func word<Value: FixedWidthInteger>(from lower: UInt64, through upper: UInt64,
                                                        as type: Value.Type = Value.self) throws(WireError) -> Value {
        let value = try word()
        guard lower <= value, value <= upper, let result = Value(exactly: value) else {
            throw .invalidValue(index: index - 1, value: value)
        }
        return result
    }

    /// A word that must be one of `range`'s values.
    public mutating func word(in range: ClosedRange<UInt64>) throws(WireError) -> UInt64 {
        let value = try word()
        guard range.contains(value) else { throw .invalidValue(index: index - 1, value: value) }
        return value
    }

    public mutating func decode<Value: Wire>(_ type: Value.Type = Value.self) throws(WireError) -> Value {
        try Value(from: &self)
    }

    /// A count of items each at least `wordsEach` words long, checked against
    /// the words left, so that no count makes a decoder allocate or loop more.
    public mutating func count(wordsEach: Int) throws(WireError) -> Int {
        let value = try word()
        let limit = UInt64(remaining / max(wordsEach, 1))
        guard value <= limit else { throw .invalidValue(index: index - 1, value: value) }
        return Int(value)
    }

    /// Bytes as `WireEncoder.bytes` wrote them, handed to `body` one at a time.
    public mutating func bytes(_ body: (UInt8) -> Void) throws(WireError) {
        let count = try word()
        // Any 64-bit count: no arithmetic on it before it is known to be small.
        let wordsNeeded = count / 8 + (count % 8 == 0 ? 0 : 1)
        guard wordsNeeded <= UInt64(remaining) else {
            throw .invalidValue(index: index - 1, value: count)
        }
        var left = Int(count)
        while left > 0 {
            let packed = try word()
            // The last word's bytes past the count are zero: one encoding per value.
            if left < 8, packed >> UInt64(left * 8) != 0 { throw .invalidValue(index: index - 1, value: packed) }
            var shift: UInt64 = 0
            while shift < 64, left > 0 {
                body(UInt8(truncatingIfNeeded: packed >> shift))
                shift += 8
                left -= 1
            }
        }
    }

    /// Every word was read: a value with extra words is not the value.
    @inline(__always)
    public func finish() throws(WireError) {
        guard remaining == 0 else { throw .extraWords(count: remaining) }
    }
}

extension WireDecoder {
    /// `words` as exactly one `Value`: every word read, none left over.
    public static func whole<Value: Wire>(_ type: Value.Type, from words: UnsafeRawBufferPointer) -> Result<Value, WireError> {
        var decoder = WireDecoder(words: words)
        do throws(WireError) {
            let value = try Value(from: &decoder)
            try decoder.finish()
            return .success(value)
        } catch {
            return .failure(error)
        }
    }
}

/// A value with a word encoding. WireCodeGenerator writes the coding of
/// every Wire type from its declaration (WireCoding.generated.swift, by
/// scripts/generate-wire-coding); only a `WirePrimitive` writes its own.
public protocol Wire {
    init(from decoder: inout WireDecoder) throws(WireError)
    func encode(to encoder: inout WireEncoder)
}

/// A Wire type that codes itself: the integers, Bool, Optional, Array, and
/// containers or views whose words are not stored properties (bytes packed
/// eight to a word, words where they lie in the kernel). Every other Wire
/// type's coding is generated.
public protocol WirePrimitive: Wire {}

extension UInt64: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) { self = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(self) }
}

extension UInt32: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = UInt32(try decoder.word(in: 0...UInt64(UInt32.max)))
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(UInt64(self)) }
}

extension Int: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = Int(truncatingIfNeeded: try decoder.word(in: 0...UInt64(Int.max)))
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(UInt64(truncatingIfNeeded: self)) }
}

extension Bool: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) { self = try decoder.word(in: 0...1) == 1 }
    public func encode(to encoder: inout WireEncoder) { encoder.word(self ? 1 : 0) }
}

extension Optional: Wire, WirePrimitive where Wrapped: Wire {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = try decoder.word(in: 0...1) == 1 ? .some(try Wrapped(from: &decoder)) : .none
    }
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .some(let value): encoder.word(1); value.encode(to: &encoder)
        case .none: encoder.word(0)
        }
    }
}

extension Array: Wire, WirePrimitive where Element: Wire {
    /// A count, then the elements; the count is checked against the words
    /// left before anything is reserved.
    public init(from decoder: inout WireDecoder) throws(WireError) {
        let count = try decoder.count(wordsEach: 1)
        self = []
        reserveCapacity(count)
        for _ in 0..<count { append(try Element(from: &decoder)) }
    }
    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(count))
        for element in self { element.encode(to: &encoder) }
    }
}

/// Bytes, packed eight to a word: text and memory contents.
public struct WireBytes: WirePrimitive, Equatable, Sendable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        var bytes: [UInt8] = []
        try decoder.bytes { bytes.append($0) }
        self.bytes = bytes
    }

    public func encode(to encoder: inout WireEncoder) {
        bytes.withUnsafeBytes { encoder.bytes($0) }
    }
}

/// A reply that carries nothing but its success.
public struct Done: Wire, Equatable, Sendable {
    public init() {}
}
