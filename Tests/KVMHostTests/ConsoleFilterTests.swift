import KVMHost
import XCTest

/// What a guest's console may do to a terminal, byte by byte.
final class ConsoleFilterTests: XCTestCase {
    private func filtered(_ text: String) -> String {
        var filter = ConsoleFilter()
        return String(decoding: filter.filter(Array(text.utf8)), as: UTF8.self)
    }

    func testTextAndTheUsualSequencesPass() {
        for text in ["plain text\n", "tab\there\r\n", "back\u{8}space", "é ü 漢字 🙂",
                     "\u{1B}[31mred\u{1B}[0m", "\u{1B}[1;32mbold green\u{1B}[m", "\u{1B}[2K\u{1B}[10D\u{1B}[3;4H\u{1B}[5A\u{1B}[P\u{1B}[2@\u{1B}[4X"] {
            XCTAssertEqual(filtered(text), text)
        }
    }

    func testEverythingElseIsShownInert() {
        let cases: [(String, String)] = [
            ("\u{1B}]0;title\u{7}", "^[]0;title^G"),                 // window title
            ("\u{1B}]52;c;aGk=\u{1B}\\", "^[]52;c;aGk=^[\\"),          // clipboard write
            ("\u{1B}[2J", "^[[2J"),                                   // clear the screen
            ("\u{1B}c", "^[c"),                                       // reset
            ("\u{1B}P1$r\u{1B}\\", "^[P1$r^[\\"),                     // DCS
            ("\u{1B}[?1049h", "^[[?1049h"),                           // alternate screen
            ("\u{1B}[6n", "^[[6n"),                                   // cursor position query: an answer as input
            ("\u{1B}[1 q", "^[[1 q"),                                 // intermediate byte
            ("\u{7}\u{0}\u{7F}\u{1A}", "^G^@^?^Z"),
            ("\u{9B}31m", "\\u{9b}31m"),                              // C1 CSI in UTF-8
            ("\u{1B}[" + String(repeating: "1", count: 40) + "m", "^[[" + String(repeating: "1", count: 32) + String(repeating: "1", count: 8) + "m"),
            ("\u{1B}[12\u{7}", "^[[12^G"),
        ]
        for (input, shown) in cases {
            XCTAssertEqual(filtered(input), shown, input.debugDescription)
        }
    }

    func testInvalidUTF8BecomesTheReplacementCharacter() {
        var filter = ConsoleFilter()
        XCTAssertEqual(filter.filter([0xFF, 0x41, 0xC3, 0x41, 0xE0, 0x80, 0x80, 0xED, 0xA0, 0x80]),
                       Array("\u{FFFD}A\u{FFFD}A\u{FFFD}\u{FFFD}".utf8))
    }

    /// A sequence split across writes is judged whole, whatever the split.
    func testSequencesSplitAcrossWritesAreJudgedWhole() {
        let text = Array("a\u{1B}[31mb\u{1B}]0;t\u{7}c é\n".utf8)
        let whole = filtered(String(decoding: text, as: UTF8.self))
        for split in 0...text.count {
            var filter = ConsoleFilter()
            let output = filter.filter(Array(text[..<split])) + filter.filter(Array(text[split...]))
            XCTAssertEqual(String(decoding: output, as: UTF8.self), whole, "split at \(split)")
        }
    }

    func testEscapingForMessages() {
        XCTAssertEqual(escapingControlCharacters("a\u{1B}]0;x\u{7}\nb\tc\u{9B}d"), "a\\x1b]0;x\\x07\\x0ab\tc\\u{9b}d")
        XCTAssertEqual(escapingControlCharacters("line one\nline two", keepingNewlines: true), "line one\nline two")
    }
}
