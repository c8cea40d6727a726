import Foundation

/// What the host knows of a guest kernel's code: function + offset from
/// .symtab (demangled), file:line from DWARF through llvm-symbolizer. The
/// image is written to a temporary file only when a report first needs a
/// line, and removed with this object.
public final class GuestSymbols: @unchecked Sendable {
    // Thread-safe: `lock` guards the temporary file and the line cache.
    // Thread-safe: `lock` guards everything read lazily.
    private let image: [UInt8]
    private let lock = NSLock()
    private var parsed: ELFSymbolTable?
    private var imagePath: String?
    private var lines: [UInt64: String] = [:]

    /// Keeps `image` (shared, not copied); reads nothing until a report asks.
    public init(elf image: [UInt8]) {
        self.image = image
    }

    public var table: ELFSymbolTable {
        lock.withLock {
            if let parsed { return parsed }
            let table = ELFSymbolTable(elf: image)
            parsed = table
            return table
        }
    }

    deinit {
        if let imagePath { unlink(imagePath) }
    }

    /// One address, resolved.
    public struct Location: Equatable, Sendable, CustomStringConvertible {
        public let address: UInt64
        /// Demangled function name and the offset into it, when .symtab has it.
        public let function: String?
        public let offset: UInt64
        /// "file:line", when DWARF has it.
        public let line: String?

        public var description: String {
            var text = "0x" + String(address, radix: 16)
            if let function { text += " in \(function) + 0x\(String(offset, radix: 16))" }
            if let line { text += " at \(line)" }
            return text
        }
    }

    /// Resolves `addresses`. `lineAddresses` are looked up for file:line
    /// instead (a return address less one: the call, not the next line).
    public func locate(_ addresses: [UInt64], lineAddresses: [UInt64]? = nil) -> (locations: [Location], problem: SymbolizationProblem?) {
        let lookups = lineAddresses ?? addresses
        let (lines, problem) = self.lines(for: lookups)
        let table = self.table
        let locations = zip(zip(addresses, lookups), lines).map { pair, line -> Location in
            // A call that ends a function returns past its end: look up the call.
            let (address, lookup) = pair
            let found = table.function(containing: lookup)
            return Location(address: address, function: found.map { SwiftDemangler.demangle($0.symbol.name) },
                            offset: found.map { address - $0.symbol.address } ?? 0, line: line)
        }
        return (locations, problem)
    }

    private func lines(for addresses: [UInt64]) -> ([String?], SymbolizationProblem?) {
        guard table.sectionNames.contains(".debug_line") else { return (addresses.map { _ in nil }, .noDebugInformation) }
        lock.lock()
        defer { lock.unlock() }
        let missing = Array(Set(addresses.filter { lines[$0] == nil }))
        if !missing.isEmpty {
            if imagePath == nil {
                let path = NSTemporaryDirectory() + "kvmhost-guest-\(getpid())-\(UUID().uuidString).elf"
                guard FileManager.default.createFile(atPath: path, contents: Data(image)) else {
                    return (addresses.map { _ in nil }, .cannotWriteImage(path))
                }
                imagePath = path
            }
            switch SourceLines.locate(missing, in: imagePath!) {
            case .success(let found):
                for (address, line) in zip(missing, found) { lines[address] = line ?? "" }
            case .failure(let problem):
                return (addresses.map { _ in nil }, problem)
            }
        }
        return (addresses.map { lines[$0].flatMap { $0.isEmpty ? nil : $0 } }, nil)
    }
}
