// Reads the type declarations of Swift source far enough to generate their
// wire coding: each type's stored properties or cases in declaration order,
// what it conforms to, whether it codes itself, and its `// wire:` directives.
// It understands the subset of Swift the protocol is written in and says so,
// with the file and line, where a wire type steps outside it.

struct SourceLocation: CustomStringConvertible {
    var file: String
    var line: Int
    var description: String { "\(file):\(line)" }
}

/// A stored property, or one value of an enum case's payload.
struct Field {
    /// nil for an unlabelled payload value.
    var name: String?
    var type: String
    var location: SourceLocation
    /// Directives written just above it: `// wire: NAME in RANGE`, `// wire: NAME where CONDITION`.
    var directives: [String]
    /// `lazy var`: not something a decoder can set.
    var isLazy = false
}

struct EnumCase {
    var name: String
    var payload: [Field]
    var rawValue: String?
    var directives: [String]
    var location: SourceLocation
}

/// One `struct`, `enum`, `class` or `extension` block.
struct TypeBlock {
    enum Kind: String { case `struct`, `enum`, `class`, `extension`, `protocol` }
    var kind: Kind
    /// Qualified: `QueryFrame.Reply`.
    var name: String
    var inherits: [String]
    var properties: [Field] = []
    var cases: [EnumCase] = []
    /// Stored properties or cases under `#if`: their coding cannot be generated.
    var conditionalMembers: [SourceLocation] = []
    /// Writes its own `init(from:)`.
    var codesItself = false
    var isPublic: Bool
    var directives: [String]
    var location: SourceLocation
}

struct DeclarationError: Error, CustomStringConvertible {
    var location: SourceLocation
    var message: String
    var description: String { "\(location): error: \(message)" }
}

/// Splits `text` at commas that are not inside brackets.
func splitTopLevel(_ text: Substring, separator: Character = ",") -> [Substring] {
    var parts: [Substring] = []
    var depth = 0
    var angles = 0
    var start = text.startIndex
    var index = text.startIndex
    while index < text.endIndex {
        let character = text[index]
        let previous = index > text.startIndex ? text[text.index(before: index)] : " "
        let next = text.index(after: index) < text.endIndex ? text[text.index(after: index)] : " "
        if "([{".contains(character) { depth += 1 }
        if ")]}".contains(character) { depth -= 1 }
        // A generic's angle brackets, not `<<`, `>>`, `->`, `<=` or a comparison.
        if character == "<", previous.isLetter || previous.isNumber || previous == "_", next != "<", next != "=" { angles += 1 }
        if character == ">", angles > 0, previous != "-", next != ">", next != "=" { angles -= 1 }
        if character == separator, depth == 0, angles == 0 {
            parts.append(text[start..<index])
            start = text.index(after: index)
        }
        index = text.index(after: index)
    }
    parts.append(text[start..<text.endIndex])
    return parts
}

extension Substring {
    var trimmed: Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}

/// Reads every type block of one file.
struct DeclarationReader {
    private let file: String
    private let characters: [Character]
    private var index = 0
    private var line = 1

    private struct Scope {
        var block: Int?  // index into `blocks` for a type's body
        var conditionalDepth = 0
        /// A property with a body that is stored if an observer opens it.
        var observedCandidate: (block: Int, fields: [Field])?
    }

    private mutating func addFields(_ fields: [Field], to block: Int) {
        if scopes.contains(where: { $0.block == block && $0.conditionalDepth > 0 }) {
            blocks[block].conditionalMembers.append(location)
        }
        blocks[block].properties += fields
    }

    private(set) var blocks: [TypeBlock] = []
    private var scopes: [Scope] = [Scope(block: nil)]
    private var statement = ""
    private var statementLine = 1
    private var directives: [String] = []
    private var parenthesisDepth = 0

    init(file: String, text: String) {
        self.file = file
        // "\r\n" is one Character in Swift: as a newline it must be "\n".
        characters = Array(text.replacingOccurrences(of: "\r\n", with: "\n"))
    }

    static func read(file: String, text: String) throws -> [TypeBlock] {
        var reader = DeclarationReader(file: file, text: text)
        try reader.run()
        return reader.blocks
    }

    private var location: SourceLocation { SourceLocation(file: file, line: statementLine) }

    private func peek(_ offset: Int = 0) -> Character? {
        index + offset < characters.count ? characters[index + offset] : nil
    }

    private mutating func run() throws {
        while let character = peek() {
            switch character {
            case "/" where peek(1) == "/":
                try lineComment()
            case "/" where peek(1) == "*":
                blockComment()
            case "\"":
                stringLiteral()
            case "#" where peek(1) == "\"":
                rawStringLiteral()
            case "\n":
                line += 1
                index += 1
                // A statement whose line ends in a comma goes on (`case a,` / `struct S: A,`).
                if parenthesisDepth == 0 && !statement.trimmingTrailingSpaces.hasSuffix(",") {
                    try endStatement()
                } else {
                    statement.append(" ")
                }
            case ";":
                index += 1
                try endStatement()
            case "(", "[":
                parenthesisDepth += 1
                append(character)
            case ")", "]":
                parenthesisDepth = max(parenthesisDepth - 1, 0)
                append(character)
            case "{":
                index += 1
                try openScope()
            case "}":
                index += 1
                try endStatement()
                if scopes.count > 1 { scopes.removeLast() }
            default:
                append(character)
            }
        }
        try endStatement()
    }

    private mutating func append(_ character: Character) {
        if statement.isEmpty { statementLine = line }
        statement.append(character)
        index += 1
    }

    private mutating func lineComment() throws {
        var text = ""
        while let character = peek(), character != "\n" {
            text.append(character)
            index += 1
        }
        let body = text.dropFirst(2).trimmed
        if body.hasPrefix("wire:") {
            directives.append(String(body.dropFirst(5).trimmed))
        }
    }

    /// Skips the two-character opener, then everything up to and past the
    /// two-character `end`, counting lines: a block comment, a raw string.
    private mutating func skipDelimited(until end: (Character, Character)) {
        index += 2
        while let character = peek(), !(character == end.0 && peek(1) == end.1) {
            if character == "\n" { line += 1 }
            index += 1
        }
        index += 2
    }

    private mutating func blockComment() { skipDelimited(until: ("*", "/")) }

    private mutating func stringLiteral() {
        // The contents never matter here; an empty literal stands in for them.
        let triple = peek(1) == "\"" && peek(2) == "\""
        index += triple ? 3 : 1
        while let character = peek() {
            if character == "\\" && peek(1) == "(" {
                // An interpolation: its parentheses (and any braces or quotes in
                // them) belong to the string.
                index += 2
                var depth = 1
                while let inner = peek(), depth > 0 {
                    if inner == "(" { depth += 1 } else if inner == ")" { depth -= 1 } else if inner == "\n" { line += 1 }
                    index += 1
                }
                continue
            }
            if character == "\\" { index += 2; continue }
            if character == "\n" { line += 1 }
            if character == "\"" {
                if !triple { index += 1; break }
                if peek(1) == "\"" && peek(2) == "\"" { index += 3; break }
            }
            index += 1
        }
        statement.append("\"\"")
    }

    /// `#"..."#`: no escapes, so a backslash before the closing quote is a character.
    private mutating func rawStringLiteral() {
        skipDelimited(until: ("\"", "#"))
        statement.append("\"\"")
    }

    private mutating func openScope() throws {
        let header = Substring(statement).trimmed
        statement = ""
        var scope = Scope(block: nil)
        let enclosing = scopes.last?.block
        if let (kind, name, inherits) = Self.typeHeader(header) {
            let qualified = enclosing.map { "\(blocks[$0].name).\(name)" } ?? name
            blocks.append(TypeBlock(kind: kind, name: kind == .extension ? name : qualified, inherits: inherits,
                                    isPublic: header.hasPrefix("public "), directives: directives, location: location))
            scope.block = blocks.count - 1
        } else if let enclosing, Self.isCodingInitializer(header) {
            blocks[enclosing].codesItself = true
        } else if let enclosing, scopes[scopes.count - 1].block == enclosing, let fields = storedProperties(header) {
            // `var x: T = value { didSet ... }` or `= [..].map { ... }` is stored;
            // `var x: T { ... }` is computed unless its body starts with an observer.
            if splitTopLevel(header, separator: "=").count > 1 {
                addFields(fields, to: enclosing)
            } else {
                scope.observedCandidate = (enclosing, fields)
            }
        } else if let candidate = scopes[scopes.count - 1].observedCandidate,
                  header.hasPrefix("willSet") || header.hasPrefix("didSet") {
            addFields(candidate.fields, to: candidate.block)
            scopes[scopes.count - 1].observedCandidate = nil
        }
        directives = []
        scopes.append(scope)
    }

    private mutating func endStatement() throws {
        let text = Substring(statement).trimmed
        statement = ""
        defer { if !text.isEmpty { directives = [] } }
        guard !text.isEmpty, let blockIndex = scopes[scopes.count - 1].block else { return }
        if text.hasPrefix("#if") { scopes[scopes.count - 1].conditionalDepth += 1; return }
        if text.hasPrefix("#endif") { scopes[scopes.count - 1].conditionalDepth -= 1; return }
        if text.hasPrefix("#") { return }
        let conditional = scopes[scopes.count - 1].conditionalDepth > 0
        if Self.isCodingInitializer(text) { blocks[blockIndex].codesItself = true; return }
        if let fields = storedProperties(text) {
            if conditional, !fields.isEmpty { blocks[blockIndex].conditionalMembers.append(location) }
            blocks[blockIndex].properties += fields
        } else if let cases = try enumCases(text) {
            if conditional { blocks[blockIndex].conditionalMembers.append(location) }
            blocks[blockIndex].cases += cases
        }
    }

    private static let modifiers: Set<Substring> = [
        "public", "private", "fileprivate", "internal", "package", "private(set)", "public private(set)",
        "fileprivate(set)", "internal(set)", "final", "indirect", "nonisolated", "nonisolated(unsafe)", "@frozen",
    ]

    /// The words of a declaration after its modifiers and attributes.
    private static func withoutModifiers(_ text: Substring) -> Substring {
        var rest = text
        while true {
            let word = rest.prefix { !$0.isWhitespace }
            if modifiers.contains(word) || word.hasPrefix("@") || word.hasPrefix("private(") || word.hasPrefix("public(")
                || word.hasPrefix("nonisolated(") {
                rest = rest.dropFirst(word.count).trimmed
            } else {
                return rest
            }
        }
    }

    static func typeHeader(_ header: Substring) -> (TypeBlock.Kind, String, [String])? {
        let rest = withoutModifiers(header)
        let keyword = rest.prefix { !$0.isWhitespace }
        guard let kind = TypeBlock.Kind(rawValue: String(keyword)) else { return nil }
        var afterKeyword = rest.dropFirst(keyword.count).trimmed
        if let whereClause = afterKeyword.range(of: " where ") { afterKeyword = afterKeyword[..<whereClause.lowerBound] }
        let name = afterKeyword.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard !name.isEmpty else { return nil }
        // Past the name and any generic parameters (`G<T: Wire>`): then the conformances.
        afterKeyword = afterKeyword.dropFirst(name.count)
        if afterKeyword.first == "<" {
            var depth = 0
            while let character = afterKeyword.first {
                afterKeyword.removeFirst()
                if character == "<" { depth += 1 } else if character == ">" { depth -= 1; if depth == 0 { break } }
            }
        }
        var inherits: [String] = []
        if let colon = afterKeyword.firstIndex(of: ":") {
            inherits = splitTopLevel(afterKeyword[afterKeyword.index(after: colon)...]).map { String($0.trimmed) }
        }
        return (kind, String(name), inherits)
    }

    static func isCodingInitializer(_ text: Substring) -> Bool {
        let rest = withoutModifiers(text)
        return rest.hasPrefix("init(from decoder: inout WireDecoder)")
    }

    private func storedProperties(_ text: Substring) -> [Field]? {
        var rest = Self.withoutModifiers(text)
        let isLazy = rest.hasPrefix("lazy ")
        if isLazy { rest = Self.withoutModifiers(rest.dropFirst(5).trimmed) }
        guard rest.hasPrefix("var ") || rest.hasPrefix("let ") else { return nil }
        if text.contains("static ") || text.contains("class var") { return [] }
        var fields: [Field] = []
        for declarator in splitTopLevel(rest.dropFirst(4)) {
            let parts = splitTopLevel(declarator, separator: ":")
            // No written type (`var count = 0`): fine for a type that codes
            // itself; the generator refuses it for one whose coding it writes.
            var type = parts.count >= 2 ? parts[1...].joined(separator: ":")[...] : ""
            if let equals = type.firstIndex(of: "=") { type = type[..<equals] }
            fields.append(Field(name: String(parts[0].trimmed), type: String(type.trimmed), location: location, directives: directives,
                                isLazy: isLazy))
        }
        return fields
    }

    private func enumCases(_ text: Substring) throws -> [EnumCase]? {
        let rest = Self.withoutModifiers(text)
        guard rest.hasPrefix("case ") else { return nil }
        var cases: [EnumCase] = []
        for element in splitTopLevel(rest.dropFirst(5)) {
            var body = element.trimmed
            var rawValue: String?
            if let equals = body.firstIndex(of: "="), !body[..<equals].contains("(") {
                rawValue = String(body[body.index(after: equals)...].trimmed)
                body = body[..<equals].trimmed
            }
            var payload: [Field] = []
            var name = body
            if let open = body.firstIndex(of: "("), body.hasSuffix(")") {
                name = body[..<open].trimmed
                let inside = body[body.index(after: open)..<body.index(before: body.endIndex)]
                for value in splitTopLevel(inside) {
                    let parts = splitTopLevel(value, separator: ":")
                    if parts.count >= 2 {
                        payload.append(Field(name: String(parts[0].trimmed), type: parts[1...].joined(separator: ":").trimmingSpaces,
                                             location: location, directives: directives))
                    } else {
                        payload.append(Field(name: nil, type: String(value.trimmed), location: location, directives: directives))
                    }
                }
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "`" }) else {
                throw DeclarationError(location: location, message: "not an enum case the generator reads: \(element.trimmed)")
            }
            cases.append(EnumCase(name: String(name), payload: payload, rawValue: rawValue, directives: directives, location: location))
        }
        return cases
    }
}

extension String {
    var trimmingSpaces: String { String(Substring(self).trimmed) }
    var trimmingTrailingSpaces: Substring {
        var result = Substring(self)
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
