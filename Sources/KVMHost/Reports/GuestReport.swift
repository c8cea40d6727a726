import GuestProtocol
import MemoryManager

extension ExceptionRecord: CustomStringConvertible {
    /// The faulting context, as lines: where it stopped, its registers.
    public var faultingContext: String {
        let named = registers.named.map { "\($0.name)=\(hex($0.value))" }
        return [
            "RIP=\(hex(rip)) RSP=\(hex(rsp)) RFLAGS=\(hex(rflags)) CS=\(hex(cs)) SS=\(hex(ss))",
            named.prefix(7).joined(separator: " "),
            named.dropFirst(7).joined(separator: " "),
            "CR0=\(hex(cr0)) CR2=\(hex(cr2)) CR3=\(hex(cr3)) CR4=\(hex(cr4)) EFER=\(hex(efer))",
        ].joined(separator: "\n")
    }

    /// The vector is the guest's word: any 64-bit value names itself.
    public var name: String { Int(exactly: vector).flatMap { Self.names[$0] } ?? "vector \(vector)" }

    static let names: [Int: String] = [
        0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
        5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM device not available", 8: "#DF double fault",
        10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault",
        13: "#GP general protection", 14: "#PF page fault", 16: "#MF x87 error", 17: "#AC alignment check",
        18: "#MC machine check", 19: "#XM SIMD error", 20: "#VE virtualization", 21: "#CP control protection",
    ]

    public var description: String {
        var text = "\(name) (vector \(vector)) on CPU \(cpu) at RIP \(hex(rip)), error code \(hex(errorCode)), CR2 \(hex(cr2)), RSP \(hex(rsp))"
        if guestWalk.count > 0 { text += "; the kernel's walk: " + guestWalk.entries.map(hex).joined(separator: " -> ") }
        return text
    }
}

/// A failed GUEST_ASSERT.
public struct AssertionReport: Equatable, Sendable, CustomStringConvertible {
    public var condition: String
    public var file: String
    public var line: UInt64
    public var values: [UInt64]

    public var description: String {
        "guest assertion failed: \(condition) at \(file):\(line), values \(values.map(hex))"
    }
}

public struct PanicReport: Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public var value: UInt64

    public init(reason: String, value: UInt64) {
        self.reason = reason
        self.value = value
    }

    public var description: String { "kernel panic: \(reason) (\(hex(value)))" }
}

extension StaleTranslationRecord: CustomStringConvertible {
    public var description: String {
        let entry = leaf ? "level-\(level) leaf" : "level-\(level) table entry"
        var text = "stale translation: \(hex(address)) in the address space with root \(hex(root)) was \(change.name) "
            + "(its \(entry)), and \(checkpoint.name) without "
            + (leaf || change == .tableEntryWidened ? "invalidating it" : "a full TLB flush")
        if pending > 1 { text += " (\(pending) invalidations pending; the first is named)" }
        return text
    }
}

/// One record from the guest, decoded.
public enum GuestReport: Equatable, Sendable {
    case ready(ReadyRecord)
    case exception(ExceptionRecord)
    case assertion(AssertionReport)
    case panic(PanicReport)
    case awaitCommand(AwaitCommandRecord)
    case reply(GuestReply)
    /// Console text sent over the channel instead of COM1.
    case console([UInt8])
    /// A page-trap decision for a process.
    case pageTrap(PageTrapRecord)
    /// The TLB checker found a stale translation; the kernel stops.
    case staleTranslation(StaleTranslationRecord)
    /// The lock validator found an order or a state that can deadlock; the kernel stops.
    case lockViolation(LockViolationRecord)
    /// A value a user program reported.
    case programReport(UInt64)
    /// An expectation of an in-kernel test case failed; the case goes on.
    case expectationFailed(AssertionReport)
    /// The monitor asks for the host's page-table check.
    case pageTableCheckRequest

    /// Decodes `record`, whose words must be exactly the value its kind names.
    public init(_ record: RecordView) throws(ChannelError) {
        guard let kind = record.recordKind else {
            throw ChannelError.undecodable(kind: record.kind, reason: "unknown kind")
        }
        func words<Value: Wire>(_ type: Value.Type) throws(ChannelError) -> Value {
            switch WireDecoder.whole(type, from: record.words(from: 0)) {
            case .success(let value): return value
            case .failure(let error): throw ChannelError.malformedWords(kind: kind, error)
            }
        }
        func assertion() throws(ChannelError) -> AssertionReport {
            let words = try words(AssertionRecord.self)
            let parts = record.text.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            return AssertionReport(
                condition: parts.first.map { String(decoding: $0, as: UTF8.self) } ?? "",
                file: parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : "",
                line: words.line, values: words.values.values)
        }
        switch kind {
        case .ready:
            // The fingerprint first: another format's words mean something else.
            guard record.wordCount == 0 || record.word(0) == wireFormatFingerprint else {
                throw ChannelError.wireFormatMismatch(kernel: record.word(0), host: wireFormatFingerprint)
            }
            self = .ready(try words(ReadyRecord.self))
        case .exception: self = .exception(try words(ExceptionRecord.self))
        case .assertion: self = .assertion(try assertion())
        case .expectationFailed: self = .expectationFailed(try assertion())
        case .panic: self = .panic(PanicReport(reason: String(decoding: record.text, as: UTF8.self), value: try words(UInt64.self)))
        case .console: self = .console([UInt8](record.text))
        case .pageTrap: self = .pageTrap(try words(PageTrapRecord.self))
        case .staleTranslation: self = .staleTranslation(try words(StaleTranslationRecord.self))
        case .lockViolation: self = .lockViolation(try words(LockViolationRecord.self))
        case .programReport: self = .programReport(try words(UInt64.self))
        case .awaitCommand: self = .awaitCommand(try words(AwaitCommandRecord.self))
        case .pageTableCheckRequest:
            guard record.wordCount == 0, record.text.isEmpty else {
                throw ChannelError.undecodable(kind: record.kind, reason: "a page-table check request carries nothing")
            }
            self = .pageTableCheckRequest
        case .reply:
            var decoder = WireDecoder(record: record, from: 0)
            let header: ReplyHeader
            do throws(WireError) { header = try decoder.decode() } catch { throw ChannelError.malformedWords(kind: kind, error) }
            self = .reply(GuestReply(callSequence: header.callSequence, status: header.status,
                                     words: (decoder.index..<record.wordCount).map { record.word($0) }))
        case .command:
            throw ChannelError.undecodable(kind: record.kind, reason: "a command record sent by the guest")
        }
    }

    /// Decodes the "@record <hex>" lines a guest prints where no report
    /// channel answers (under QEMU).
    public static func decodeConsoleLines(_ console: String) throws -> [GuestReport] {
        var reports: [GuestReport] = []
        for line in console.split(whereSeparator: \.isNewline) where line.hasPrefix("@record ") {
            let digits = Array(line.dropFirst("@record ".count).utf8)
            guard digits.count % 2 == 0 else {
                throw ChannelError.undecodable(kind: 0, reason: "odd number of hex digits on a console record line")
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(digits.count / 2)
            for index in stride(from: 0, to: digits.count, by: 2) {
                guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else {
                    throw ChannelError.undecodable(kind: 0, reason: "a console record line holds a non-hex character")
                }
                bytes.append(high << 4 | low)
            }
            try bytes.withUnsafeBytes { raw in
                let (view, problem) = RecordView.validate(raw)
                guard let view else { throw ChannelError.malformed(address: 0, problem: problem!) }
                reports.append(try GuestReport(view))
            }
        }
        return reports
    }
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
}
