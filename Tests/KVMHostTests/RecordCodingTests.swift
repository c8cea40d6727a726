import GuestProtocol
@testable import KVMHost
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

    /// Counts are the guest's words: the largest of them is refused or
    /// clamped, never trusted to size an array or converted with a trap.
    func testCountsOfAnySizeAreRefusedOrClamped() throws {
        let ready = record(kind: RecordKind.ready, words: Array(repeating: 0, count: ReadyWord.memoryMapCount) + [UInt64.max])
        XCTAssertThrowsError(try ready.withUnsafeBytes { try GuestReport(RecordView.validate($0).view!) }) {
            XCTAssertEqual($0 as? ChannelError, .undecodable(kind: RecordKind.ready.rawValue, reason: "\(UInt64.max) memory-map entries"))
        }
        var exceptionWords = [UInt64](repeating: 0, count: ExceptionWord.walkCount + 1)
        exceptionWords[ExceptionWord.walkCount] = UInt64.max
        let exception = record(kind: RecordKind.exception, words: exceptionWords)
        guard case .exception(let report) = try exception.withUnsafeBytes({ try GuestReport(RecordView.validate($0).view!) }) else {
            return XCTFail("not an exception report")
        }
        XCTAssertEqual(report.guestWalk.count, 4)
        var assertionWords = [UInt64](repeating: 0, count: AssertionWord.valuesStart)
        assertionWords[AssertionWord.valueCount] = 1 << 63
        let assertion = record(kind: RecordKind.assertion, words: assertionWords)
        guard case .assertion(let failed) = try assertion.withUnsafeBytes({ try GuestReport(RecordView.validate($0).view!) }) else {
            return XCTFail("not an assertion report")
        }
        XCTAssertEqual(failed.values.count, AssertionWord.maximumValues)
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

    func testReportsWithTooFewWordsAreUndecodable() throws {
        let bytes = record(kind: RecordKind.exception, words: [14, 2])
        try bytes.withUnsafeBytes { raw in
            let view = try XCTUnwrap(RecordView.validate(raw).view)
            XCTAssertThrowsError(try GuestReport(view)) {
                XCTAssertEqual($0 as? ChannelError, .undecodable(kind: RecordKind.exception.rawValue, reason: "2 words, expected at least 27"))
            }
        }
    }

    func testAssertionCarriesConditionFileLineAndValues() throws {
        let bytes = record(kind: RecordKind.assertion, words: [42, 2, 5, 6], text: "a == b\0Kernel/Thing.swift")
        let report = try bytes.withUnsafeBytes { try GuestReport(XCTUnwrap(RecordView.validate($0).view)) }
        XCTAssertEqual(report, .assertion(AssertionReport(condition: "a == b", file: "Kernel/Thing.swift", line: 42, values: [5, 6])))
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
