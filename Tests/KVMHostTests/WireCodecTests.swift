import GuestProtocol
import KVMHost
import XCTest

/// The codec every call, reply and error goes through, and the schema's one
/// map from codes to call types.
final class WireCodecTests: XCTestCase {
    private func encode<Value: Wire>(_ value: Value) -> [UInt64] {
        var bytes = [UInt8](repeating: 0, count: recordMaximumSize)
        return bytes.withUnsafeMutableBytes { raw in
            var encoder = RecordWriter(base: raw.baseAddress!, capacity: raw.count, kind: .reply, sequence: 1)
            encoder.encode(value)
            XCTAssertTrue(encoder.complete)
            return (0..<encoder.wordCount).map { raw.load(fromByteOffset: recordHeaderSize + $0 * 8, as: UInt64.self) }
        }
    }

    private func decode<Value: Wire>(_ type: Value.Type, _ words: [UInt64]) -> Result<Value, WireError> {
        words.withUnsafeBytes { WireDecoder.whole(Value.self, from: $0) }
    }

    func testValuesRoundTripWordForWord() throws {
        let run = ProgramRun(outcome: .faulted(reason: .guardPage, address: 0x7000, rip: 0x12, vector: 14),
                             reallocations: 3, freeFramesBefore: 10, freeFramesAfter: 10, breakpoints: 1, userCycles: 99, faultThread: 1)
        XCTAssertEqual(encode(run), [2, FaultReason.guardPage.rawValue, 0x7000, 0x12, 14, 3, 10, 10, 1, 99, 1])
        XCTAssertEqual(try decode(ProgramRun.self, encode(run)).get(), run)
        let map = MapPage(virtual: 0x4000_0000, frame: .existing(physical: 0x5000), flags: [.writable, .noExecute])
        XCTAssertEqual(encode(map), [0x4000_0000, 2, 0x5000, (1 << 1) | (1 << 63)])
        XCTAssertEqual(try decode(MapPage.self, encode(map)).get(), map)
        let error = CallError.map(.alreadyMapped(page: 0x1000, frame: Frame(number: 7)))
        XCTAssertEqual(try decode(CallError.self, encode(error)).get(), error)
        let bytes = WireBytes(Array("hello, kernel".utf8))
        XCTAssertEqual(encode(bytes).count, 1 + 2, "a count and 13 bytes in two words")
        XCTAssertEqual(try decode(WireBytes.self, encode(bytes)).get(), bytes)
        let query = QuerySpace.Reply(reservation: nil, highWaterMark: 0x10, fallbackCount: 2)
        XCTAssertEqual(encode(query), [0, 0x10, 2])
        XCTAssertEqual(try decode(QuerySpace.Reply.self, encode(query)).get(), query)
    }

    func testMalformedWordsAreNamedExactly() {
        XCTAssertEqual(decode(MapPage.self, [0x4000_0000, 1]), .failure(.missingWord(index: 2)))
        XCTAssertEqual(decode(MapPage.self, [0x4000_0000, 3, 0, 0]), .failure(.invalidValue(index: 1, value: 3)))
        XCTAssertEqual(decode(MapPage.self, [0x4000_0000, 0, 0]), .failure(.invalidValue(index: 1, value: 0)), "tags start at 1")
        XCTAssertEqual(decode(AssertEqual.self, [1, 2, 3]), .failure(.extraWords(count: 1)))
        XCTAssertEqual(decode(Shutdown.self, [1 << 32]), .failure(.invalidValue(index: 0, value: 1 << 32)))
        XCTAssertEqual(decode(ProgramRun.self, [2, 99, 0, 0, 0, 0, 0, 0, 0, 0]), .failure(.invalidValue(index: 1, value: 99)),
                       "a fault reason the kernel does not have")
        // A count is checked against the words left before anything is kept.
        XCTAssertEqual(decode([UInt64].self, [UInt64.max]), .failure(.invalidValue(index: 0, value: UInt64.max)))
        XCTAssertEqual(decode([UInt64].self, [3, 1, 2]), .failure(.invalidValue(index: 0, value: 3)))
        XCTAssertEqual(decode(WireBytes.self, [17, 0, 0]), .failure(.invalidValue(index: 0, value: 17)))
        XCTAssertEqual(decode(WireBytes.self, [3, 0x0100_0000_0041_4243]), .failure(.invalidValue(index: 1, value: 0x0100_0000_0041_4243)),
                       "a byte past the count in the last word")
        // Found by the report-channel fuzz target: a byte count near 2^64 once overflowed.
        XCTAssertEqual(decode(WireBytes.self, [UInt64.max]), .failure(.invalidValue(index: 0, value: UInt64.max)))
        XCTAssertEqual(decode(WireBytes.self, [UInt64.max - 6, 1]), .failure(.invalidValue(index: 0, value: UInt64.max - 6)))
        XCTAssertEqual(decode(FrameStatistics.Reservation.self, [3, 0x2000, 0x1000, 0]), .failure(.invalidValue(index: 2, value: 0x1000)),
                       "a reservation that ends before it starts")
    }

    /// Every code names a type whose own code is that code: the map in
    /// `CallCode.visit` and the types agree, and no two codes share a type.
    func testEveryCodeNamesItsOwnCallType() {
        struct CodeOf: CallVisitor {
            mutating func visit<Call: GuestCall>(_ call: Call.Type) -> (CallCode, String) { (Call.code, "\(Call.self)") }
        }
        var names: Set<String> = []
        for code in CallCode.allCases {
            var visitor = CodeOf()
            let (named, type) = code.visit(&visitor)
            XCTAssertEqual(named, code, type)
            XCTAssertTrue(names.insert(type).inserted, "\(type) named twice")
        }
        XCTAssertEqual(names.count, CallCode.allCases.count)
    }
}
