import FuzzTargets
import GuestProtocol
import SeededRandom
import XCTest

/// The wire format's property, over every type the wire carries: seeded
/// words, biased towards the small values tags, counts and flags take,
/// either decode whole into a value that encodes back to exactly those
/// words, or are refused with a word of them named.
final class WireFormatPropertyTests: XCTestCase {
    func testEveryTypeDecodesWholeOrNamesTheWordItRefuses() {
        var random = SplitMix64(state: 0x5749_5245)
        let interesting: [UInt64] = [0, 1, 2, 3, 4, 5, 7, 8, 0x1000, 0x3F, 32, 52, 1 << 63, .max, wireFormatFingerprint]
        XCTAssertGreaterThanOrEqual(everyWireType.count, 2 * CallCode.allCases.count + 10)
        for type in everyWireType {
            var decoded = 0
            var refused = 0
            func word() -> UInt64 {
                random.next() % 4 == 0 ? random.next() : interesting[Int(random.next() % UInt64(interesting.count))]
            }
            for attempt in 0..<3000 {
                // Half the lists are random; half are grown as the decoder
                // asks: a word appended where one is missing, a word refused
                // drawn again, so that deep values decode too.
                var words = (0..<Int(random.next() % 48)).map { _ in word() }
                if attempt % 2 == 1 { words = [] }
                for _ in 0..<(attempt % 2 == 1 ? 200 : 1) {
                    let outcome = type.check(words)
                    switch outcome {
                    case .decoded: decoded += 1
                    case .refused: refused += 1
                    case .violated(let what): return XCTFail("\(type.name): \(what)")
                    }
                    guard attempt % 2 == 1, case .refused(let error) = outcome else { break }
                    switch error {
                    case .missingWord: words.append(word())
                    case .invalidValue(let index, _): words[index] = word()
                    case .extraWords(let count): words.removeLast(count)
                    case .tooLong: break
                    }
                }
            }
            XCTAssertGreaterThan(refused, 0, "\(type.name): no words were refused")
            // Every word list decodes for a type of no words only when it is empty.
            XCTAssertGreaterThan(decoded, 0, "\(type.name): no words decoded, so the round trip was never checked")
        }
    }
}
