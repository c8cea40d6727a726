/// What a guest's console may do to the terminal it is shown on: what a
/// serial console needs and nothing more. Printable text (UTF-8), newline,
/// carriage return, tab and backspace pass; so do the usual CSI sequences
/// for colour (SGR, `m`), cursor movement (`A`-`H`, `f`) and line editing
/// (`K`, `P`, `@`, `X`). Everything else (OSC such as window titles and
/// clipboard writes, DCS, resets, screen clears, private modes, device
/// queries, bells) is shown in caret notation (`^[`, `^G`), and C1
/// controls as `\u{9b}`: visible and inert. Sequences split across writes are kept until whole,
/// at most `maximumSequence` bytes.
public struct ConsoleFilter {
    public static let maximumSequence = 32
    static let allowedFinalBytes = Set("mABCDEFGHfKP@X".utf8)

    private enum State {
        case ground
        case escape
        /// Inside ESC [, with what followed so far.
        case controlSequence([UInt8])
        /// A UTF-8 sequence, with its bytes so far and how many it needs.
        case utf8([UInt8], needed: Int)
    }

    private var state = State.ground

    public init() {}

    /// The bytes to show for `input`, given what came before.
    public mutating func filter(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        for byte in input { take(byte, into: &output) }
        return output
    }

    private mutating func take(_ byte: UInt8, into output: inout [UInt8]) {
        switch state {
        case .ground:
            ground(byte, into: &output)
        case .escape:
            if byte == UInt8(ascii: "[") {
                state = .controlSequence([])
            } else {
                state = .ground
                output += caret(0x1B)
                ground(byte, into: &output)
            }
        case .controlSequence(var body):
            switch byte {
            case 0x20...0x3F where body.count < Self.maximumSequence:
                body.append(byte)
                state = .controlSequence(body)
            case 0x40...0x7E:
                state = .ground
                let plain = body.allSatisfy { (0x30...0x39).contains($0) || $0 == UInt8(ascii: ";") }
                if plain && Self.allowedFinalBytes.contains(byte) {
                    output += [0x1B, UInt8(ascii: "[")] + body + [byte]
                } else {
                    output += caret(0x1B) + [UInt8(ascii: "[")] + body + [byte]
                }
            default:
                // Too long, or a byte no control sequence holds: show what came.
                state = .ground
                output += caret(0x1B) + [UInt8(ascii: "[")] + body
                ground(byte, into: &output)
            }
        case .utf8(var bytes, let needed):
            guard byte & 0xC0 == 0x80 else {
                state = .ground
                output += Self.replacement
                ground(byte, into: &output)
                return
            }
            bytes.append(byte)
            guard bytes.count == needed else {
                state = .utf8(bytes, needed: needed)
                return
            }
            state = .ground
            let scalars = String(decoding: bytes, as: UTF8.self).unicodeScalars
            if scalars.count == 1, let scalar = scalars.first, scalar.value != 0xFFFD || bytes == Self.replacement {
                if (0x80...0x9F).contains(scalar.value) {
                    output += Array("\\u{\(String(scalar.value, radix: 16))}".utf8)  // a C1 control, shown inert
                } else {
                    output += bytes
                }
            } else {
                output += Self.replacement  // overlong or surrogate
            }
        }
    }

    private mutating func ground(_ byte: UInt8, into output: inout [UInt8]) {
        switch byte {
        case 0x20...0x7E, 0x0A, 0x0D, 0x09, 0x08:
            output.append(byte)
        case 0x1B:
            state = .escape
        case 0x00...0x1F, 0x7F:
            output += caret(byte)
        case 0xC2...0xDF:
            state = .utf8([byte], needed: 2)
        case 0xE0...0xEF:
            state = .utf8([byte], needed: 3)
        case 0xF0...0xF4:
            state = .utf8([byte], needed: 4)
        default:
            output += Self.replacement
        }
    }

    /// ^@ ... ^_ for C0, ^? for DEL.
    private func caret(_ byte: UInt8) -> [UInt8] {
        [UInt8(ascii: "^"), byte == 0x7F ? UInt8(ascii: "?") : byte + 0x40]
    }

    static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
}
