/// Text a guest chose, made safe to print in the host's own messages: every
/// control character (C0, DEL, C1) is shown as an escape, so a panic reason,
/// an assertion's file name or a console line can neither drive the
/// terminal (set its title, write the clipboard, clear the screen) nor fake
/// a line of kvmhost's own output.
public func escapingControlCharacters(_ text: String, keepingNewlines: Bool = false) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x0A where keepingNewlines, 0x09:
            result.unicodeScalars.append(scalar)
        case 0x00...0x1F, 0x7F:
            result += "\\x" + hexByte(scalar.value)
        case 0x80...0x9F:
            result += "\\u{" + hexByte(scalar.value) + "}"
        default:
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

private func hexByte(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}
