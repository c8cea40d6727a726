import KVMHost

/// One line of `--trace-ports`: direction, port, size, count and the values
/// (those written, or those the guest read), the first `shownValues` of a
/// `rep` string access.
enum PortTrace {
    static let shownValues = 16

    static func line(_ access: PortAccess) -> String {
        let verb = access.direction == .output ? "out" : "in "
        let digits = access.size * 2
        let values = (0..<min(access.count, shownValues)).map { index -> String in
            let text = String(access.value(index), radix: 16)
            return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        var line = "port \(verb) 0x\(String(access.port, radix: 16)) size \(access.size) x\(access.count): " + values.joined(separator: " ")
        if access.count > shownValues { line += " (and \(access.count - shownValues) more)" }
        return line + "\n"
    }
}
