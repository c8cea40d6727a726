// How people type numbers to the harness, the same in the kernel monitor and
// on kvmhost's command line: addresses are hexadecimal, with or without 0x;
// counts are decimal. Underscores may separate digits. Everything printed
// follows the same rule: addresses in hex with 0x, counts in decimal.

public enum NumberText {
    /// An address: 1 to 16 hex digits, `0x` optional. Nil for anything else.
    public static func address(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var start = 0
        if text.count >= 2 && text[0] == UInt8(ascii: "0") && (text[1] | 0x20) == UInt8(ascii: "x") { start = 2 }
        return parse(text, from: start, radix: 16)
    }

    /// A count: decimal digits only. Nil for anything else or past 2^64 - 1.
    public static func count(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        parse(text, from: 0, radix: 10)
    }

    private static func parse(_ text: UnsafeBufferPointer<UInt8>, from start: Int, radix: UInt64) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        var index = start
        while index < text.count {
            let byte = text[index]
            index += 1
            if byte == UInt8(ascii: "_") && digits > 0 { continue }
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
            let (sum, carry) = shifted.addingReportingOverflow(digit)
            guard !overflow, !carry else { return nil }
            value = sum
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
