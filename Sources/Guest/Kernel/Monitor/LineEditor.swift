// Reading a monitor line from the serial console, with the editing a shell
// offers: backspace, Ctrl-U (the whole line), Ctrl-W (the word before the
// cursor), left and right arrows, and up and down through the last lines.
// A line longer than `capacity` is refused when Enter is pressed, never cut.

enum LineEditor {
    static let capacity = 120
    static let historyCapacity = 16

    enum Outcome {
        case line(length: Int)
        /// Ctrl-C: the line is dropped.
        case interrupted
        /// The line was longer than `capacity`; nothing of it is run.
        case tooLong
        /// Ctrl-D, or the input ended.
        case endOfInput
    }

    private static var buffer: UnsafeMutablePointer<UInt8>? = nil
    /// History entries: a length byte, then up to `capacity` bytes each.
    private static var history: UnsafeMutablePointer<UInt8>? = nil
    private static var historyCount = 0
    private static var historyNext = 0

    static var line: UnsafeMutablePointer<UInt8> {
        if let buffer { return buffer }
        let made = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        buffer = made
        return made
    }

    private static var entries: UnsafeMutablePointer<UInt8> {
        if let history { return history }
        let made = UnsafeMutablePointer<UInt8>.allocate(capacity: historyCapacity * (capacity + 1))
        history = made
        return made
    }

    /// Reads one line after `prompt` (already written).
    static func read(prompt: StaticString) -> Outcome {
        let line = self.line
        var length = 0
        var cursor = 0
        var tooLong = false
        var back = 0  // how far up the history the line is (0: a new line)
        func redraw() {
            Console.write("\r")
            Console.write(prompt)
            Console.write(UnsafeRawBufferPointer(start: line, count: length))
            Console.write("\u{1B}[K")
            if cursor < length { moveLeft(length - cursor) }
        }
        while true {
            let byte = SerialInput.readByte()
            switch byte {
            case 0x04:
                return .endOfInput
            case 0x0D, 0x0A:
                Console.write("\n")
                if tooLong { return .tooLong }
                if length > 0 { remember(line, length) }
                return .line(length: length)
            case 0x03:
                Console.write("^C\n")
                return .interrupted
            case 0x08, 0x7F:
                guard cursor > 0 else { continue }
                if cursor == length {
                    length -= 1
                    cursor -= 1
                    Console.write("\u{8} \u{8}")
                } else {
                    (line + cursor - 1).update(from: line + cursor, count: length - cursor)
                    length -= 1
                    cursor -= 1
                    redraw()
                }
            case 0x0C:  // Ctrl-L: the prompt and the line again (kvmhost sends it after a message of its own)
                redraw()
            case 0x15:  // Ctrl-U
                length = 0
                cursor = 0
                tooLong = false
                redraw()
            case 0x17:  // Ctrl-W
                var start = cursor
                while start > 0 && line[start - 1] == UInt8(ascii: " ") { start -= 1 }
                while start > 0 && line[start - 1] != UInt8(ascii: " ") { start -= 1 }
                (line + start).update(from: line + cursor, count: length - cursor)
                length -= cursor - start
                cursor = start
                redraw()
            case 0x1B:
                // An arrow key: ESC [ A/B/C/D.
                guard SerialInput.readByte() == UInt8(ascii: "[") else { continue }
                switch SerialInput.readByte() {
                case UInt8(ascii: "D") where cursor > 0:
                    cursor -= 1
                    moveLeft(1)
                case UInt8(ascii: "C") where cursor < length:
                    cursor += 1
                    Console.write("\u{1B}[C")
                case UInt8(ascii: "A") where back < historyCount:
                    back += 1
                    length = recall(back, into: line)
                    cursor = length
                    redraw()
                case UInt8(ascii: "B") where back > 0:
                    back -= 1
                    length = back == 0 ? 0 : recall(back, into: line)
                    cursor = length
                    redraw()
                default:
                    continue
                }
            case 0x20...0x7E:
                guard length < capacity else {
                    tooLong = true
                    continue
                }
                if cursor == length {
                    line[length] = byte
                    length += 1
                    cursor += 1
                    Console.write(UnsafeRawBufferPointer(start: line + length - 1, count: 1))
                } else {
                    (line + cursor + 1).update(from: line + cursor, count: length - cursor)
                    line[cursor] = byte
                    length += 1
                    cursor += 1
                    redraw()
                }
            default:
                continue
            }
        }
    }

    private static func moveLeft(_ columns: Int) {
        Console.write("\u{1B}[")
        Console.writeDecimal(UInt64(columns))
        Console.write("D")
    }

    private static func remember(_ line: UnsafeMutablePointer<UInt8>, _ length: Int) {
        let entry = entries + historyNext * (capacity + 1)
        entry[0] = UInt8(length)
        (entry + 1).update(from: line, count: length)
        historyNext = (historyNext + 1) % historyCapacity
        historyCount = min(historyCount + 1, historyCapacity)
    }

    /// History entry `back` lines up (1: the last line), copied into `line`.
    private static func recall(_ back: Int, into line: UnsafeMutablePointer<UInt8>) -> Int {
        let slot = (historyNext - back + historyCapacity) % historyCapacity
        let entry = entries + slot * (capacity + 1)
        let length = Int(entry[0])
        line.update(from: entry + 1, count: length)
        return length
    }
}
