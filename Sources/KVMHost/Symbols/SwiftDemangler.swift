import Foundation

/// Swift's own demangler, from the Swift runtime the host links: readable
/// names (`GuestKernel.CallDispatcher.run()`) for the guest's mangled symbols.
enum SwiftDemangler {
    static func demangle(_ name: String) -> String {
        // $e: Embedded Swift's mangling; $s: Swift's.
        guard ["$e", "$s", "_$s", "$S"].contains(where: name.hasPrefix) else { return name }
        return name.withCString { mangled in
            guard let demangled = swift_demangle(mangled, strlen(mangled), nil, nil, 0) else { return name }
            defer { free(demangled) }
            return simplified(String(cString: demangled))
        }
    }

    /// What a reader of a backtrace needs: the optimizer's specialization
    /// prefixes dropped, and private names (`(execute in _53C0...)`) bare.
    static func simplified(_ name: String) -> String {
        var text = Substring(name)
        for prefix in ["function signature specialization <", "generic specialization <", "merged "] {
            while text.hasPrefix(prefix), let end = text.range(of: "> of ") {
                text = text[end.upperBound...]
            }
        }
        let whole = String(text)
        return privateName.stringByReplacingMatches(in: whole, range: NSRange(whole.startIndex..., in: whole), withTemplate: "$1")
    }

    private static let privateName = try! NSRegularExpression(pattern: "\\(([A-Za-z0-9_]+) in _[0-9A-F]+\\)")
}

@_silgen_name("swift_demangle")
private func swift_demangle(_ mangledName: UnsafePointer<CChar>, _ mangledNameLength: Int,
                            _ outputBuffer: UnsafeMutablePointer<CChar>?, _ outputBufferSize: UnsafeMutablePointer<Int>?,
                            _ flags: UInt32) -> UnsafeMutablePointer<CChar>?
