/// The function symbols of an ELF64 image (.symtab and its string table),
/// sorted by address: function + offset for any address, with no tool
/// outside the host. A malformed or stripped image gives an empty table,
/// never an error or a trap: symbols only decorate reports.
public struct ELFSymbolTable: Sendable {
    public struct Symbol: Equatable, Sendable {
        public let address: UInt64
        public let size: UInt64
        /// As linked (mangled for Swift).
        public let name: String
    }

    /// A section as its header describes it: where it is loaded (0 for one
    /// that is not) and how many bytes it has.
    public struct Section: Equatable, Sendable {
        public let address: UInt64
        public let size: UInt64
    }

    public let symbols: [Symbol]
    /// The image's sections by name (".debug_line" tells DWARF lines are
    /// there; the profile sections say the image is instrumented for coverage).
    public let sections: [String: Section]
    public var sectionNames: Set<String> { Set(sections.keys) }

    /// Symbols read at most: a kernel has a few thousand (guest.elf about 2,500).
    public static let maximumSymbols = 1 << 16
    /// Sections read at most: a kernel has a few dozen. More, and the image
    /// is taken as having no symbols (the work stays bounded).
    public static let maximumSections = 256

    public init(elf bytes: [UInt8]) {
        let (symbols, sections) = Self.read(bytes, symbols: true)
        self.symbols = symbols
        self.sections = sections
    }

    /// The sections alone, without reading a symbol.
    public static func sections(of bytes: [UInt8]) -> [String: Section] {
        read(bytes, symbols: false).1
    }

    /// The function containing `address`, and how far into it.
    public func function(containing address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        var low = 0, high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let symbol = symbols[low - 1]
        let offset = address - symbol.address
        guard offset < max(symbol.size, 1) else { return nil }
        return (symbol, offset)
    }

    private static func read(_ bytes: [UInt8], symbols readSymbols: Bool) -> ([Symbol], [String: Section]) {
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46, bytes[4] == 2 else { return ([], [:]) }
        func field(_ offset: UInt64, _ size: Int) -> UInt64? {
            guard offset <= UInt64(bytes.count), UInt64(bytes.count) - offset >= UInt64(size) else { return nil }
            var value: UInt64 = 0
            for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[Int(offset) + index]) }
            return value
        }
        guard let tableOffset = field(40, 8), let entrySize = field(58, 2), let count = field(60, 2), let namesIndex = field(62, 2),
              entrySize == 64, count <= UInt64(maximumSections) else { return ([], [:]) }
        /// Where section header `index` starts, when the file holds it whole.
        func headerOffset(_ index: UInt64) -> UInt64? {
            let (header, overflow) = tableOffset.addingReportingOverflow(index * 64)
            guard !overflow, header <= UInt64(bytes.count), UInt64(bytes.count) - header >= 64 else { return nil }
            return header
        }
        func section(_ index: UInt64) -> (type: UInt64, offset: UInt64, size: UInt64, link: UInt64, entrySize: UInt64)? {
            guard index < count, let header = headerOffset(index) else { return nil }
            guard let type = field(header + 4, 4), let offset = field(header + 24, 8), let size = field(header + 32, 8),
                  let link = field(header + 40, 4), let entrySize = field(header + 56, 8) else { return nil }
            guard offset <= UInt64(bytes.count), UInt64(bytes.count) - offset >= size else { return nil }
            return (type, offset, size, link, entrySize)
        }
        func string(in table: (type: UInt64, offset: UInt64, size: UInt64, link: UInt64, entrySize: UInt64), at offset: UInt64) -> String? {
            guard offset < table.size else { return nil }
            let start = Int(table.offset + offset), limit = Int(table.offset + table.size)
            let end = bytes[start..<limit].firstIndex(of: 0) ?? limit
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }
        var sections: [String: Section] = [:]
        if let nameTable = section(namesIndex) {
            for index in 0..<count {
                guard let header = headerOffset(index), let nameOffset = field(header, 4),
                      let name = string(in: nameTable, at: nameOffset),
                      let address = field(header + 16, 8), let size = field(header + 32, 8) else { continue }
                sections[name] = Section(address: address, size: size)
            }
        }
        var symbols: [Symbol] = []
        for index in 0..<count where readSymbols {
            guard let table = section(index), table.type == 2, table.entrySize == 24, let strings = section(table.link) else { continue }
            let total = min(table.size / 24, UInt64(maximumSymbols))
            for entry in 0..<total {
                let at = table.offset + entry * 24
                guard let nameOffset = field(at, 4), let info = field(at + 4, 1), let value = field(at + 8, 8),
                      let size = field(at + 16, 8), info & 0xF == 2, value != 0, let name = string(in: strings, at: nameOffset) else { continue }
                symbols.append(Symbol(address: value, size: size, name: name))
            }
            break
        }
        return (symbols.sorted { $0.address < $1.address }, sections)
    }
}
