import GuestProtocol
import GuestMemory

/// The ready report: the kernel is up, and this is what it was given.
public struct ReadyReport: Equatable, Sendable {
    public var kernelPhysicalStart: UInt64
    public var kernelPhysicalEnd: UInt64
    public var kernelVirtualBase: UInt64
    public var directMapBase: UInt64
    public var heapStart: UInt64
    public var heapEnd: UInt64
    public var startInfoPhysical: UInt64
    /// CR3 of the kernel's own address space.
    public var pageTableRoot: UInt64
    /// Memory ranges the kernel's frame allocator could not record: memory
    /// it does not use. `LiveGuest.boot` fails when there are any.
    public var droppedMemoryRanges: UInt64
    /// The memory map as the guest read it from hvm_start_info.
    public var memoryMap: [PhysicalMemoryMap.Entry]
}

/// A CPU exception the guest kernel did not handle.
public struct ExceptionReport: Equatable, Sendable, CustomStringConvertible {
    public var vector: UInt64
    public var errorCode: UInt64
    public var rip: UInt64
    public var cs: UInt64
    public var rflags: UInt64
    public var rsp: UInt64
    public var ss: UInt64
    public var cr0: UInt64
    public var cr2: UInt64
    public var cr3: UInt64
    public var cr4: UInt64
    public var efer: UInt64
    /// The faulting context's general registers, from the trap frame:
    /// RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8 ... R15.
    public var registers: [UInt64] = []
    /// For a page fault: the entries the guest's own walk of CR2 read, PML4 first.
    public var guestWalk: [UInt64] = []

    static let registerNames = ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP",
                                "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"]

    /// The faulting context, as lines: where it stopped, its registers.
    public var faultingContext: String {
        var lines = ["RIP=\(hex(rip)) RSP=\(hex(rsp)) RFLAGS=\(hex(rflags)) CS=\(hex(cs)) SS=\(hex(ss))"]
        let named = zip(Self.registerNames, registers).map { "\($0)=\(hex($1))" }
        if !named.isEmpty {
            lines.append(named.prefix(7).joined(separator: " "))
            lines.append(named.dropFirst(7).joined(separator: " "))
        }
        lines.append("CR0=\(hex(cr0)) CR2=\(hex(cr2)) CR3=\(hex(cr3)) CR4=\(hex(cr4)) EFER=\(hex(efer))")
        return lines.joined(separator: "\n")
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
        var text = "\(name) (vector \(vector)) at RIP \(hex(rip)), error code \(hex(errorCode)), CR2 \(hex(cr2)), RSP \(hex(rsp))"
        if !guestWalk.isEmpty { text += "; the kernel's walk: " + guestWalk.map(hex).joined(separator: " -> ") }
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

/// One decision of the page trap: reallocated (demand paging), or the
/// process faulted for `reason`.
public struct PageTrapReport: Equatable, Sendable {
    public var address: UInt64
    public var errorCode: UInt64
    public var rip: UInt64
    /// Nil: reallocated (demand paging); otherwise why the process was faulted.
    public var faultReason: FaultReason?

    public init(address: UInt64, errorCode: UInt64, rip: UInt64, faultReason: FaultReason?) {
        self.address = address
        self.errorCode = errorCode
        self.rip = rip
        self.faultReason = faultReason
    }

    public var reallocated: Bool { faultReason == nil }
}

/// One record from the guest, decoded.
public enum GuestReport: Equatable, Sendable {
    case ready(ReadyReport)
    case exception(ExceptionReport)
    case assertion(AssertionReport)
    case panic(PanicReport)
    case awaitCommand(bufferPhysical: UInt64, capacity: UInt64)
    case reply(GuestReply)
    /// Console text sent over the channel instead of COM1.
    case console([UInt8])
    /// A page-trap decision for a process.
    case pageTrap(PageTrapReport)
    /// A value a user program reported.
    case programReport(UInt64)
    /// An expectation of an in-kernel test case failed; the case goes on.
    case expectationFailed(AssertionReport)

    public init(_ record: RecordView) throws {
        func require(_ words: Int) throws {
            guard record.wordCount >= words else {
                throw ChannelError.undecodable(kind: record.kind, reason: "\(record.wordCount) words, expected at least \(words)")
            }
        }
        guard let kind = record.recordKind else {
            throw ChannelError.undecodable(kind: record.kind, reason: "unknown kind")
        }
        func assertion() throws -> AssertionReport {
            try require(AssertionWord.valuesStart)
            let count = min(Int(clamping: record.word(AssertionWord.valueCount)), AssertionWord.maximumValues)
            let values = (0..<count).map { record.word(AssertionWord.valuesStart + $0) }
            let parts = record.text.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            return AssertionReport(
                condition: parts.first.map { String(decoding: $0, as: UTF8.self) } ?? "",
                file: parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : "",
                line: record.word(AssertionWord.line), values: values)
        }
        switch kind {
        case .ready:
            try require(ReadyWord.memoryMapStart)
            let claimed = record.word(ReadyWord.memoryMapCount)
            guard claimed <= UInt64(ReadyWord.maximumMemoryMapEntries) else {
                throw ChannelError.undecodable(kind: record.kind, reason: "\(claimed) memory-map entries")
            }
            let count = Int(claimed)
            try require(ReadyWord.memoryMapStart + count * ReadyWord.memoryMapEntryWords)
            let map = (0..<count).map { index in
                let first = ReadyWord.memoryMapStart + index * ReadyWord.memoryMapEntryWords
                return PhysicalMemoryMap.Entry(base: record.word(first), length: record.word(first + 1),
                                               type: UInt32(truncatingIfNeeded: record.word(first + 2)))
            }
            self = .ready(ReadyReport(
                kernelPhysicalStart: record.word(ReadyWord.kernelPhysicalStart),
                kernelPhysicalEnd: record.word(ReadyWord.kernelPhysicalEnd),
                kernelVirtualBase: record.word(ReadyWord.kernelVirtualBase),
                directMapBase: record.word(ReadyWord.directMapBase),
                heapStart: record.word(ReadyWord.heapStart),
                heapEnd: record.word(ReadyWord.heapEnd),
                startInfoPhysical: record.word(ReadyWord.startInfoPhysical),
                pageTableRoot: record.word(ReadyWord.pageTableRoot),
                droppedMemoryRanges: record.word(ReadyWord.droppedMemoryRanges),
                memoryMap: map))
        case .exception:
            try require(ExceptionWord.count)
            self = .exception(ExceptionReport(
                vector: record.word(ExceptionWord.vector), errorCode: record.word(ExceptionWord.errorCode),
                rip: record.word(ExceptionWord.rip), cs: record.word(ExceptionWord.cs),
                rflags: record.word(ExceptionWord.rflags), rsp: record.word(ExceptionWord.rsp),
                ss: record.word(ExceptionWord.ss),
                cr0: record.word(ExceptionWord.cr0), cr2: record.word(ExceptionWord.cr2),
                cr3: record.word(ExceptionWord.cr3), cr4: record.word(ExceptionWord.cr4),
                efer: record.word(ExceptionWord.efer),
                registers: (0..<ExceptionWord.registerCount).map { record.word(ExceptionWord.registersStart + $0) },
                guestWalk: (0..<min(Int(clamping: record.word(ExceptionWord.walkCount)), 4)).map { record.word(ExceptionWord.walkStart + $0) }))
        case .assertion:
            self = .assertion(try assertion())
        case .expectationFailed:
            self = .expectationFailed(try assertion())
        case .panic:
            self = .panic(PanicReport(reason: String(decoding: record.text, as: UTF8.self), value: record.word(0)))
        case .console:
            self = .console([UInt8](record.text))
        case .pageTrap:
            try require(PageTrapWord.count)
            var reason: FaultReason?
            if record.word(PageTrapWord.decision) != 0 {
                let raw = record.word(PageTrapWord.reason)
                guard let named = FaultReason(rawValue: raw) else {
                    throw ChannelError.undecodable(kind: record.kind, reason: "page-trap fault reason \(raw)")
                }
                reason = named
            }
            self = .pageTrap(PageTrapReport(address: record.word(PageTrapWord.address), errorCode: record.word(PageTrapWord.errorCode),
                                            rip: record.word(PageTrapWord.rip), faultReason: reason))
        case .programReport:
            try require(1)
            self = .programReport(record.word(0))
        case .awaitCommand:
            try require(AwaitCommandWord.count)
            self = .awaitCommand(bufferPhysical: record.word(AwaitCommandWord.bufferPhysical),
                                 capacity: record.word(AwaitCommandWord.bufferCapacity))
        case .reply:
            try require(ReplyWord.valuesStart)
            self = .reply(GuestReply(
                callSequence: UInt32(truncatingIfNeeded: record.word(ReplyWord.callSequence)),
                status: record.word(ReplyWord.status),
                words: (ReplyWord.valuesStart..<record.wordCount).map { record.word($0) }))
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
