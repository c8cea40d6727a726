// Reading and writing records over raw memory: the same code in the guest
// kernel (Embedded Swift) and in KVMHost.

/// Writes one record into memory the caller owns.
public struct RecordWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private let kind: RecordKind
    private let sequence: UInt32
    public private(set) var wordCount = 0
    public private(set) var textLength = 0
    /// False once something did not fit; the record is then cut short, never overrun.
    public private(set) var complete = true

    public init(base: UnsafeMutableRawPointer, capacity: Int, kind: RecordKind, sequence: UInt32) {
        self.base = base
        self.capacity = min(capacity, recordMaximumSize)
        self.kind = kind
        self.sequence = sequence
    }

    /// Words must all come before any text.
    public mutating func append(_ word: UInt64) {
        let offset = recordHeaderSize + wordCount * 8
        guard textLength == 0, offset + 8 <= capacity, wordCount < Int(UInt16.max) else {
            complete = false
            return
        }
        base.storeBytes(of: word.littleEndian, toByteOffset: offset, as: UInt64.self)
        wordCount += 1
    }

    /// Appends `bytes.count / 8` little-endian words as they lie (the
    /// machine's order), checked once and copied in one piece: appending them
    /// one by one cost the kernel about 14 emulated instructions a word.
    /// For bulk only (memory contents): in a small reply, a call of it cost
    /// more than the words it copied (an Echo of no words went from 361 to
    /// 532 emulated instructions), so Echo's words are appended one by one.
    @inline(never)
    public mutating func appendWords(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count / 8
        let offset = recordHeaderSize + wordCount * 8
        guard textLength == 0, count <= (capacity - offset) / 8, wordCount + count <= Int(UInt16.max) else {
            complete = false
            return
        }
        if count > 0, let source = bytes.baseAddress { (base + offset).copyMemory(from: source, byteCount: count * 8) }
        wordCount += count
    }

    /// Overwrites word `index`, which must have been appended already.
    public mutating func replaceWord(_ index: Int, with word: UInt64) {
        guard index < wordCount else { return }
        base.storeBytes(of: word.littleEndian, toByteOffset: recordHeaderSize + index * 8, as: UInt64.self)
    }

    /// Drops the words after the first `count` (before any text is added).
    public mutating func truncateWords(to count: Int) {
        guard textLength == 0, count < wordCount else { return }
        wordCount = count
        complete = true
    }

    public mutating func appendText(_ bytes: UnsafeRawBufferPointer) {
        let offset = recordHeaderSize + wordCount * 8 + textLength
        let count = min(bytes.count, max(capacity - offset, 0))
        if count > 0, let source = bytes.baseAddress {
            // One copy, a `rep movsb` in the guest: a byte loop cost about
            // 8 emulated instructions a byte, 0.6 ms of every boot.
            (base + offset).copyMemory(from: source, byteCount: count)
            textLength += count
        }
        if count < bytes.count { complete = false }
    }

    public mutating func appendText(_ text: StaticString) {
        appendText(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Writes the header; returns the record's total length in bytes.
    @discardableResult
    public func finish() -> Int {
        base.storeBytes(of: recordMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 4, as: UInt16.self)
        base.storeBytes(of: UInt16(wordCount).littleEndian, toByteOffset: 6, as: UInt16.self)
        base.storeBytes(of: UInt32(textLength).littleEndian, toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: sequence.littleEndian, toByteOffset: 12, as: UInt32.self)
        return length
    }

    public var length: Int { recordHeaderSize + wordCount * 8 + textLength }
}

/// Why bytes are not a record.
public enum RecordProblem: Equatable, Sendable {
    case shorterThanHeader(available: Int)
    case badMagic(UInt32)
    case tooLong(length: Int)
    case truncated(length: Int, available: Int)
}

/// A validated view of one record in memory the caller owns.
public struct RecordView {
    /// The kind as the header has it: a host meets kinds no case names.
    public let kind: UInt16
    public let sequence: UInt32
    public let wordCount: Int
    public let textLength: Int
    private let bytes: UnsafeRawBufferPointer

    /// The total length the header at `header` claims, or the problem with it.
    /// `header` must hold at least `recordHeaderSize` bytes.
    public static func claimedLength(header: UnsafeRawBufferPointer) -> (length: Int, problem: RecordProblem?) {
        guard header.count >= recordHeaderSize else {
            return (0, .shorterThanHeader(available: header.count))
        }
        let magic = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard magic == recordMagic else { return (0, .badMagic(magic)) }
        let words = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        let text = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let length = recordHeaderSize + words * 8 + text
        guard length <= recordMaximumSize else { return (length, .tooLong(length: length)) }
        return (length, nil)
    }

    /// Validates `bytes` as one whole record.
    public static func validate(_ bytes: UnsafeRawBufferPointer) -> (view: RecordView?, problem: RecordProblem?) {
        let (length, problem) = claimedLength(header: bytes)
        if let problem { return (nil, problem) }
        guard length <= bytes.count else {
            return (nil, .truncated(length: length, available: bytes.count))
        }
        return (RecordView(bytes: bytes), nil)
    }

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        kind = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        wordCount = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        textLength = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        sequence = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// Word `index`, or 0 where the record has fewer words.
    public func word(_ index: Int) -> UInt64 {
        guard index >= 0, index < wordCount else { return 0 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: recordHeaderSize + index * 8, as: UInt64.self))
    }

    public var recordKind: RecordKind? { RecordKind(rawValue: kind) }

    /// The words from `index` on, for a `WireDecoder`.
    public func words(from index: Int) -> UnsafeRawBufferPointer {
        let start = recordHeaderSize + min(max(index, 0), wordCount) * 8
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(recordHeaderSize + wordCount * 8)])
    }

    public var text: UnsafeRawBufferPointer {
        let start = recordHeaderSize + wordCount * 8
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + textLength)])
    }
}
