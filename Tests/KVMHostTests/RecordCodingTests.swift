import GuestProtocol
@testable import KVMHost
import TestSupport
import XCTest

/// The record code both sides compile, and the host's decoding of it.
final class RecordCodingTests: XCTestCase {
    private func record(kind: RecordKind, words: [UInt64], text: String = "", capacity: Int = recordMaximumSize) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: capacity)
        let length = bytes.withUnsafeMutableBytes { raw -> Int in
            var writer = RecordWriter(base: raw.baseAddress!, capacity: capacity, kind: kind, sequence: 7)
            for word in words { writer.append(word) }
            Array(text.utf8).withUnsafeBytes { writer.appendText($0) }
            return writer.finish()
        }
        return Array(bytes.prefix(length))
    }

    func testRoundTripOfWordsAndText() throws {
        let bytes = record(kind: RecordKind.panic, words: [0xDEAD_BEEF], text: "out of frames")
        XCTAssertEqual(bytes.count, recordHeaderSize + 8 + 13)
        try bytes.withUnsafeBytes { raw in
            let view = try XCTUnwrap(RecordView.validate(raw).view)
            XCTAssertEqual(view.recordKind, .panic)
            XCTAssertEqual(view.sequence, 7)
            XCTAssertEqual(view.word(0), 0xDEAD_BEEF)
            XCTAssertEqual(view.word(1), 0, "a word past the record reads as 0")
            XCTAssertEqual(try GuestReport(view), .panic(PanicReport(reason: "out of frames", value: 0xDEAD_BEEF)))
        }
    }

    private func decode(_ bytes: [UInt8]) throws -> GuestReport {
        try bytes.withUnsafeBytes { raw in try GuestReport(RecordView.validate(raw).view!) }
    }

    /// Counts are the guest's words: the largest of them is refused, never
    /// trusted to size an array or converted with a trap; the index of the
    /// word refused is named.
    func testCountsOfAnySizeAreRefused() throws {
        // A ready record's map count is its thirteenth word (after the wire
        // format's fingerprint, 10 words and the CPU count, which is 1 or more).
        let ready = record(kind: RecordKind.ready, words: [wireFormatFingerprint] + Array(repeating: 0, count: 10) + [1, UInt64.max])
        XCTAssertThrowsError(try decode(ready)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .ready, .invalidValue(index: 12, value: UInt64.max)))
        }
        // 129 entries, all present: more than one record may carry.
        let tooMany = record(kind: RecordKind.ready, words: [wireFormatFingerprint] + Array(repeating: 0, count: 10) + [1, 129]
                             + Array(repeating: 0, count: 129 * 3 + 3))
        XCTAssertThrowsError(try decode(tooMany)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .ready, .invalidValue(index: 12, value: 129)))
        }
        // No CPU, or more than the kernel starts, is not a count.
        for cpus in [0, UInt64(GuestCPUs.maximumCount) + 1] {
            let badCount = record(kind: RecordKind.ready, words: [wireFormatFingerprint] + Array(repeating: 0, count: 10) + [cpus, 0, 0, 0, 0])
            XCTAssertThrowsError(try decode(badCount)) {
                XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .ready, .invalidValue(index: 11, value: cpus)))
            }
        }
        // The page-table check table's address, the eleventh word, is word-aligned.
        let unaligned = record(kind: RecordKind.ready, words: [wireFormatFingerprint] + Array(repeating: 0, count: 9) + [0x4004]
                               + Array(repeating: 0, count: 4))
        XCTAssertThrowsError(try decode(unaligned)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .ready, .invalidValue(index: 10, value: 0x4004)))
        }
        // Cut short anywhere, the boot cycles last included: the word missing
        // is named (this crashed the host once: a compiler's cleanup of a
        // half-built record).
        for count in 0..<16 {
            let words = count == 0 ? [] : [wireFormatFingerprint] + (1..<count).map { $0 == 11 ? 1 : 0 }
            XCTAssertThrowsError(try decode(record(kind: RecordKind.ready, words: words)), "\(count) words") {
                XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .ready, .missingWord(index: count)))
            }
        }
        // A kernel built from other protocol sources is named as such before
        // any other word is read.
        let otherFormat = record(kind: RecordKind.ready, words: [wireFormatFingerprint ^ 1] + Array(repeating: 0, count: 15))
        XCTAssertThrowsError(try decode(otherFormat)) {
            XCTAssertEqual($0 as? ChannelError, .wireFormatMismatch(kernel: wireFormatFingerprint ^ 1, host: wireFormatFingerprint))
        }
        // An exception's walk count follows its 12 words and 15 registers: at most 4.
        let exception = record(kind: RecordKind.exception, words: Array(repeating: 0, count: 27) + [5] + Array(repeating: 0, count: 5))
        XCTAssertThrowsError(try decode(exception)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .exception, .invalidValue(index: 27, value: 5)))
        }
        let assertion = record(kind: RecordKind.assertion, words: [7, 1 << 63])
        XCTAssertThrowsError(try decode(assertion)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .assertion, .invalidValue(index: 1, value: 1 << 63)))
        }
    }

    /// A record's words are exactly its value: one too few or one too many
    /// is named, for every kind that has words.
    func testWordsMissingOrLeftOverAreNamed() throws {
        let exception = record(kind: RecordKind.exception, words: [14, 2])
        XCTAssertThrowsError(try decode(exception)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .exception, .missingWord(index: 2)))
        }
        let pageTrap = record(kind: RecordKind.pageTrap, words: [0x1000, 6, 0x40, 0, 9])
        XCTAssertThrowsError(try decode(pageTrap)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .pageTrap, .extraWords(count: 1)))
        }
        let reason = record(kind: RecordKind.pageTrap, words: [0x1000, 6, 0x40, 1, 999])
        XCTAssertThrowsError(try decode(reason)) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .pageTrap, .invalidValue(index: 4, value: 999)))
        }
        XCTAssertThrowsError(try decode(record(kind: RecordKind.programReport, words: []))) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .programReport, .missingWord(index: 0)))
        }
        XCTAssertThrowsError(try decode(record(kind: RecordKind.awaitCommand, words: [1, 2, 3]))) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .awaitCommand, .extraWords(count: 1)))
        }
        XCTAssertThrowsError(try decode(record(kind: RecordKind.reply, words: [1 << 32, 0]))) {
            XCTAssertEqual($0 as? ChannelError, .malformedWords(kind: .reply, .invalidValue(index: 0, value: 1 << 32)))
        }
    }

    /// What the kernel encodes, the host decodes to the same value, field by field.
    func testRecordsRoundTripAsTheKernelWritesThem() throws {
        let registers = GeneralRegisters(rax: 1, rbx: 2, rcx: 3, rdx: 4, rsi: 5, rdi: 6, rbp: 7, r8: 8, r9: 9, r10: 10,
                                         r11: 11, r12: 12, r13: 13, r14: 14, r15: 15)
        var walk = PageWalkEntries()
        for entry: UInt64 in [0x1003, 0x2003, 0x3003, 0x4003, 0x5003] { walk.append(entry) }
        XCTAssertEqual(walk.entries, [0x1003, 0x2003, 0x3003, 0x4003], "a fifth level is not taken")
        let exception = ExceptionRecord(vector: 14, errorCode: 2, rip: 0x7fff_8010_0000, cs: 8, rflags: 0x46, rsp: 0x7fff_8020_0000,
                                        ss: 0x10, cr0: 0x8001_0011, cr2: 0xdead_0000, cr3: 0x5000, cr4: 0x20, efer: 0xd00,
                                        registers: registers, guestWalk: walk)
        XCTAssertEqual(try decode(HostileRecords.record(kind: .exception, exception)), .exception(exception))
        XCTAssertEqual(registers.values, Array(1...15))
        let ready = ReadyRecord(kernelPhysicalStart: 0x100000, kernelPhysicalEnd: 0x400000, kernelVirtualBase: 0x7fff_8000_0000,
                                directMapBase: 0x7f80_0000_0000, heapStart: 1, heapEnd: 2, startInfoPhysical: 0x1000, pageTableRoot: 0x9000,
                                droppedMemoryRanges: 0, pageTableCheckTable: 0x4000, cpuCount: 2, bootCycles: BootCycles(total: 9_000_000, physicalMemory: 1_000, addressSpace: 2_000),
                                memoryMap: MemoryMapEntries([.init(base: 0x1000, length: 0x9F000, type: MemoryType.ram),
                                                             .init(base: 0xA0000, length: 0x60000, type: MemoryType.reserved)]))
        XCTAssertEqual(try decode(HostileRecords.record(kind: .ready, ready)), .ready(ready))
        let trap = PageTrapRecord(address: 0x4000, errorCode: 6, rip: 0x10, faultReason: .guardPage)
        XCTAssertEqual(try decode(HostileRecords.record(kind: .pageTrap, trap)), .pageTrap(trap))
        let waiting = AwaitCommandRecord(bufferPhysical: 0x300000, capacity: 4096)
        XCTAssertEqual(try decode(HostileRecords.record(kind: .awaitCommand, waiting)), .awaitCommand(waiting))
    }

    func testWriterNeverOverrunsItsCapacity() {
        var bytes = [UInt8](repeating: 0xCC, count: 64)
        bytes.withUnsafeMutableBytes { raw in
            var writer = RecordWriter(base: raw.baseAddress!, capacity: 40, kind: .ready, sequence: 1)
            for word in 0..<10 { writer.append(UInt64(word)) }
            XCTAssertEqual(writer.wordCount, 3)
            XCTAssertFalse(writer.complete)
            XCTAssertEqual(writer.finish(), 40)
        }
        XCTAssertEqual(Array(bytes[40...]), Array(repeating: 0xCC, count: 24))
        // Text is cut at the capacity too, in one copy.
        bytes = [UInt8](repeating: 0xCC, count: 64)
        bytes.withUnsafeMutableBytes { raw in
            var writer = RecordWriter(base: raw.baseAddress!, capacity: 40, kind: .ready, sequence: 1)
            writer.append(7)
            Array("0123456789abcdefXYZ".utf8).withUnsafeBytes { writer.appendText($0) }
            XCTAssertEqual(writer.textLength, 16)
            XCTAssertFalse(writer.complete)
            Array("more".utf8).withUnsafeBytes { writer.appendText($0) }
            XCTAssertEqual(writer.textLength, 16)
            XCTAssertEqual(writer.finish(), 40)
        }
        XCTAssertEqual(Array(bytes[24..<40]), Array("0123456789abcdef".utf8))
        XCTAssertEqual(Array(bytes[40...]), Array(repeating: 0xCC, count: 24))
    }

    func testProblemsAreNamed() {
        XCTAssertEqual([UInt8](repeating: 0, count: 8).withUnsafeBytes { RecordView.validate($0).problem }, .shorterThanHeader(available: 8))
        var bad = record(kind: .ready, words: [1])
        bad[0] = 0
        XCTAssertEqual(bad.withUnsafeBytes { RecordView.validate($0).problem }, .badMagic(0x3144_4300))
        var long = record(kind: .ready, words: [])
        long[8] = 0xFF; long[9] = 0xFF  // text length 65535
        XCTAssertEqual(long.withUnsafeBytes { RecordView.validate($0).problem }, .tooLong(length: 16 + 65535))
        let cut = Array(record(kind: .ready, words: [1, 2, 3]).prefix(30))
        XCTAssertEqual(cut.withUnsafeBytes { RecordView.validate($0).problem }, .truncated(length: 40, available: 30))
    }

    func testAssertionCarriesConditionFileLineAndValues() throws {
        let bytes = record(kind: RecordKind.assertion, words: [42, 2, 5, 6], text: "a == b\0Kernel/Thing.swift")
        XCTAssertEqual(try decode(bytes), .assertion(AssertionReport(condition: "a == b", file: "Kernel/Thing.swift", line: 42, values: [5, 6])))
        // Every value the kernel sends arrives: no limit but the record's page.
        let many = record(kind: RecordKind.assertion, words: [7, 9] + Array(1...9), text: "x\0f")
        XCTAssertEqual(try decode(many), .assertion(AssertionReport(condition: "x", file: "f", line: 7, values: Array(1...9))))
    }

    func testConsoleRecordLinesDecodeLikeChannelRecords() throws {
        let bytes = record(kind: RecordKind.reply, words: [3, 0, 99])
        let line = "@record " + bytes.map { String(format: "%02x", $0) }.joined()
        let reports = try GuestReport.decodeConsoleLines("SeaBIOS noise\n\(line)\nguest kernel: ready\n")
        XCTAssertEqual(reports, [.reply(GuestReply(callSequence: 3, status: 0, words: [99]))])
        XCTAssertThrowsError(try GuestReport.decodeConsoleLines("@record 5x\n")) {
            XCTAssertEqual($0 as? ChannelError, .undecodable(kind: 0, reason: "a console record line holds a non-hex character"))
        }
    }

    func testChannelReadsOnlyInsideGuestMemory() throws {
        let memory = try GuestMemory(size: 4 << 20)
        let bytes = record(kind: RecordKind.reply, words: [1, 0])
        // A well-formed record that would run past the end of memory.
        try memory.write(Array(bytes.prefix(16)), at: UInt64(memory.size - 16))
        XCTAssertThrowsError(try ReportChannelDevice.readRecord(at: UInt64(memory.size - 16), in: memory)) {
            XCTAssertEqual($0 as? ChannelError, .outsideGuestMemory(address: UInt64(memory.size - 16), length: 32))
        }
        XCTAssertThrowsError(try ReportChannelDevice.readRecord(at: UInt64(memory.size - 8), in: memory)) {
            XCTAssertEqual($0 as? ChannelError, .outsideGuestMemory(address: UInt64(memory.size - 8), length: 16))
        }
        try memory.write(bytes, at: 0x1000)
        XCTAssertEqual(try ReportChannelDevice.readRecord(at: 0x1000, in: memory),
                       .reply(GuestReply(callSequence: 1, status: 0, words: [])))
    }
}
