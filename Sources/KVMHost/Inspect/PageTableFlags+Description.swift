import MemoryManager

/// Flags as a test failure shows them: `[.present, .writable, .noExecute]`,
/// the names Swift code writes them with, not a raw value in decimal. Bits
/// no flag names are shown in hex.
extension PageTableFlags: CustomStringConvertible {
    public var description: String {
        let named: [(PageTableFlags, String)] = [
            (.present, "present"), (.writable, "writable"), (.user, "user"), (.writeThrough, "writeThrough"),
            (.cacheDisable, "cacheDisable"), (.accessed, "accessed"), (.dirty, "dirty"), (.huge, "huge"),
            (.global, "global"), (.noExecute, "noExecute"),
        ]
        var words = named.filter { contains($0.0) }.map { "." + $0.1 }
        let other = rawValue & ~PageTableFlags.all.rawValue
        if other != 0 { words.append("rawValue 0x" + String(other, radix: 16)) }
        return "[" + words.joined(separator: ", ") + "]"
    }
}
