import GuestProtocol

// The wire format's property, over every call, reply, record and error:
// words either decode whole into one value, which encodes back to exactly
// those words, or are refused with the word named. WireFormatPropertyTests
// runs it over seeded words; the `wire-format` fuzz target over libFuzzer's.

/// One type the wire carries, by a name for messages.
public struct WireType: Sendable {
    public let name: String
    private let checker: any WireFormatChecker

    init<Value: Wire>(_ type: Value.Type) {
        name = String(reflecting: Value.self)
        checker = TypedChecker<Value>()
    }

    /// Checks the property for `words`: how they fared.
    public func check(_ words: [UInt64]) -> WireFormatOutcome { checker.check(words) }
}

/// The check for one type, kept as a value (a closure would capture the
/// metatype, which is not Sendable).
private protocol WireFormatChecker: Sendable {
    func check(_ words: [UInt64]) -> WireFormatOutcome
}

private struct TypedChecker<Value: Wire>: WireFormatChecker {
    func check(_ words: [UInt64]) -> WireFormatOutcome { checkWireFormat(Value.self, words) }
}

public enum WireFormatOutcome: Equatable, Sendable {
    case decoded
    case refused(WireError)
    /// The property does not hold: what broke, in words.
    case violated(String)
}

/// Every type the wire carries: each call's arguments and reply (through
/// `CallCode.visit`, so a new call is covered by being declared), each
/// record's words (through a switch over `RecordKind`, which the compiler
/// keeps complete), and the errors.
public let everyWireType: [WireType] = {
    struct Types: CallVisitor {
        mutating func visit<Call: GuestCall>(_ call: Call.Type) -> [WireType] { [WireType(Call.self), WireType(Call.Reply.self)] }
    }
    var types: [WireType] = []
    for code in CallCode.allCases {
        var visitor = Types()
        types += code.visit(&visitor)
    }
    for kind in RecordKind.allCases {
        switch kind {
        case .ready: types.append(WireType(ReadyRecord.self))
        case .exception: types.append(WireType(ExceptionRecord.self))
        case .assertion, .expectationFailed: types.append(WireType(AssertionRecord.self))
        case .awaitCommand: types.append(WireType(AwaitCommandRecord.self))
        case .reply: types.append(WireType(ReplyHeader.self))
        case .panic, .programReport: types.append(WireType(UInt64.self))
        case .pageTrap: types.append(WireType(PageTrapRecord.self))
        case .staleTranslation: types.append(WireType(StaleTranslationRecord.self))
        case .lockViolation: types.append(WireType(LockViolationRecord.self))
        case .console, .pageTableCheckRequest, .command: break  // text, nothing, or a call's words (above)
        }
    }
    types += [WireType(CallError.self), WireType(WireError.self)]
    return types
}()

func checkWireFormat<Value: Wire>(_ type: Value.Type, _ words: [UInt64]) -> WireFormatOutcome {
    let decoded = words.withUnsafeBytes { WireDecoder.whole(Value.self, from: $0) }
    switch decoded {
    case .failure(let error):
        // The word named is one that is there (or the first one missing).
        switch error {
        case .missingWord(let index) where index == words.count: return .refused(error)
        case .invalidValue(let index, let value) where index < words.count && words[index] == value: return .refused(error)
        case .extraWords(let count) where count > 0 && count <= words.count: return .refused(error)
        default: return .violated("\(words) refused as \(error), which names no word of them")
        }
    case .success(let value):
        var buffer = [UInt8](repeating: 0, count: recordMaximumSize)
        let again: [UInt64]? = buffer.withUnsafeMutableBytes { raw in
            var encoder = RecordWriter(base: raw.baseAddress!, capacity: raw.count, kind: .reply, sequence: 0)
            encoder.encode(value)
            guard encoder.complete else { return nil }
            return (0..<encoder.wordCount).map { UInt64(littleEndian: raw.load(fromByteOffset: recordHeaderSize + $0 * 8, as: UInt64.self)) }
        }
        guard let again else { return .violated("\(words) decoded, but the value does not fit in a record again") }
        guard again == words else { return .violated("\(words) decoded, and encodes as \(again)") }
        return .decoded
    }
}

/// The first byte picks the type; the rest are little-endian words.
public func fuzzWireFormat(_ input: UnsafeRawBufferPointer) -> WireFormatOutcome? {
    guard let first = input.first else { return nil }
    let type = everyWireType[Int(first) % everyWireType.count]
    let words = stride(from: 1, to: input.count - 7, by: 8).map { UInt64(littleEndian: input.loadUnaligned(fromByteOffset: $0, as: UInt64.self)) }
    let outcome = type.check(words)
    if case .violated(let what) = outcome { preconditionFailure("the wire format of \(type.name): \(what)") }
    return outcome
}
