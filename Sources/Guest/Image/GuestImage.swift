import Foundation

/// The guest kernels this package builds from Sources/Guest: guest.elf, and
/// guest-coverage.elf, the same kernel instrumented for source-based coverage.
public enum GuestImage {
    /// The variable that picks the kernel of the whole process: `plain` (or
    /// unset, or empty) or `coverage`.
    public static let variantVariable = "KVMHOST_GUEST_VARIANT"

    /// Where the built guest.elf lies; guest-coverage.elf instead when
    /// $KVMHOST_GUEST_VARIANT is `coverage` (scripts/coverage runs the suite so).
    /// Where the variable has another value, guest.elf: `kernel()` and
    /// `checkEnvironment()` refuse that value.
    public static var kernelURL: URL { instrumented ? coverageKernelURL : resource("guest") }

    /// Whether this process's kernel is the one built for coverage.
    public static var instrumented: Bool { (try? variant.get()) ?? false }

    /// The variant the environment names: true for coverage.
    private static let variant: Result<Bool, GuestImageError> = {
        switch ProcessInfo.processInfo.environment[variantVariable] ?? "plain" {
        case "plain", "": return .success(false)
        case "coverage": return .success(true)
        case let other: return .failure(.badVariant(other))
        }
    }()

    /// Refuses a $KVMHOST_GUEST_VARIANT that is neither plain nor coverage.
    public static func checkEnvironment() throws(GuestImageError) {
        _ = try variant.get()
    }

    /// Where the built guest.elf lies, whatever the variant.
    public static var plainKernelURL: URL { resource("guest") }

    /// The bytes of guest.elf (guest-coverage.elf for the coverage variant).
    public static func kernel() throws(GuestImageError) -> [UInt8] {
        try checkEnvironment()
        return try contents(of: kernelURL)
    }

    /// Where the built guest-coverage.elf lies: `llvm-cov` reads its coverage mapping.
    public static var coverageKernelURL: URL { resource("guest-coverage") }

    /// The bytes of guest-coverage.elf.
    public static func coverageKernel() throws(GuestImageError) -> [UInt8] {
        try contents(of: coverageKernelURL)
    }

    private static func contents(of url: URL) throws(GuestImageError) -> [UInt8] {
        guard let handle = fopen(url.path, "rb") else { throw .unreadable(url.path, String(cString: strerror(errno))) }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress!, 1, $0.count, handle) }
            bytes += chunk[0..<count]
            if count < chunk.count {
                guard ferror(handle) == 0 else { throw .unreadable(url.path, String(cString: strerror(errno))) }
                return bytes
            }
        }
    }

    private static func resource(_ name: String) -> URL {
        // The build puts both beside each other; a missing one is named when it is read.
        Bundle.module.url(forResource: name, withExtension: "elf")
            ?? Bundle.module.bundleURL.appendingPathComponent("\(name).elf")
    }
}

/// Why a built kernel cannot be had.
public enum GuestImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// $KVMHOST_GUEST_VARIANT is neither plain nor coverage.
    case badVariant(String)
    /// The built kernel cannot be read (the BuildGuest plugin did not run?).
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .badVariant(let value):
            return "\(GuestImage.variantVariable)=\(value): it takes plain or coverage"
        case .unreadable(let path, let reason): return "cannot read the built kernel \(path): \(reason) (the BuildGuest plugin builds it)"
        }
    }
}
