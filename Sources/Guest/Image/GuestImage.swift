import Foundation

/// The guest kernels this package builds from Sources/Guest: guest.elf, and
/// guest-coverage.elf, the same kernel instrumented for source-based coverage.
public enum GuestImage {
    /// The variable that picks the kernel of the whole process: `plain` (or
    /// unset, or empty) or `coverage`.
    public static let variantVariable = "KVMHOST_GUEST_VARIANT"
    /// The variable that names another kernel file for the whole process:
    /// a mutant kernel of scripts/mutate-flushes, or one built elsewhere.
    public static let kernelVariable = "KVMHOST_GUEST_KERNEL"

    /// Where the built guest.elf lies; guest-coverage.elf instead when
    /// $KVMHOST_GUEST_VARIANT is `coverage` (scripts/coverage runs the suite
    /// so); the file $KVMHOST_GUEST_KERNEL names, when it names one.
    /// Where a variable has a value it does not take, guest.elf: `kernel()`
    /// and `checkEnvironment()` refuse that value.
    public static var kernelURL: URL {
        if case .success(let path?) = replacement { return URL(fileURLWithPath: path) }
        return instrumented ? coverageKernelURL : resource("guest")
    }

    /// The kernel file $KVMHOST_GUEST_KERNEL names: nil when unset or empty.
    private static let replacement: Result<String?, GuestImageError> = {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[kernelVariable], !path.isEmpty else { return .success(nil) }
        if (try? variant.get()) == true { return .failure(.replacedAndInstrumented(path)) }
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(path, R_OK) == 0 else {
            return .failure(.badReplacement(path))
        }
        return .success(path)
    }()

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

    /// Refuses a $KVMHOST_GUEST_VARIANT that is neither plain nor coverage,
    /// and a $KVMHOST_GUEST_KERNEL that is not a readable regular file.
    public static func checkEnvironment() throws(GuestImageError) {
        _ = try variant.get()
        _ = try replacement.get()
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

    /// The bytes of guest-coverage.elf. Refused where $KVMHOST_GUEST_KERNEL
    /// names another kernel: the instrumented one would not be it.
    public static func coverageKernel() throws(GuestImageError) -> [UInt8] {
        try checkEnvironment()
        if let path = try replacement.get() { throw .replacedAndInstrumented(path) }
        return try contents(of: coverageKernelURL)
    }

    /// The file $KVMHOST_GUEST_KERNEL names, once checked; nil when unset.
    /// (kvmhost reads it itself, no larger than guest memory.)
    public static func replacementPath() throws(GuestImageError) -> String? {
        try checkEnvironment()
        return try replacement.get()
    }

    /// The most a kernel file may hold: the built one is a few MiB with its
    /// debug information; a file named by $KVMHOST_GUEST_KERNEL could be anything.
    public static let maximumKernelBytes = 256 << 20

    /// The file's bytes: a regular file (opened without blocking, so a FIFO
    /// put in its place is refused, never waited on) of at most `maximumKernelBytes`.
    private static func contents(of url: URL) throws(GuestImageError) -> [UInt8] {
        // A kernel the variable names is the user's file, not the build's.
        func unreadable(_ reason: String) -> GuestImageError {
            if case .success(url.path?) = replacement { return .replacementUnreadable(url.path, reason) }
            return .unreadable(url.path, reason)
        }
        let descriptor = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw unreadable(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw unreadable(String(cString: strerror(errno))) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw unreadable("not a regular file") }
        guard status.st_size <= maximumKernelBytes else {
            throw unreadable("\(status.st_size) bytes, more than a kernel image may hold (\(maximumKernelBytes))")
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw unreadable(count < 0 ? String(cString: strerror(errno)) : "it ended at \(done) of \(bytes.count) bytes")
            }
            done += count
        }
        return bytes
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
    /// $KVMHOST_GUEST_KERNEL names no readable regular file.
    case badReplacement(String)
    /// The file $KVMHOST_GUEST_KERNEL names could not be read whole (it
    /// changed after it was checked, or is too large): path and reason.
    case replacementUnreadable(String, String)
    /// $KVMHOST_GUEST_KERNEL with the coverage variant, whose kernel it would replace.
    case replacedAndInstrumented(String)

    public var description: String {
        switch self {
        case .badVariant(let value):
            return "\(GuestImage.variantVariable)=\(value): it takes plain or coverage"
        case .unreadable(let path, let reason): return "cannot read the built kernel \(shown(path)): \(reason) (the BuildGuest plugin builds it)"
        case .badReplacement(let path):
            return "\(GuestImage.kernelVariable)=\(shown(path)): it takes the path of a readable regular file (a kernel image)"
        case .replacementUnreadable(let path, let reason):
            return "cannot read the kernel \(GuestImage.kernelVariable) names, \(shown(path)): \(reason)"
        case .replacedAndInstrumented(let path):
            return "\(GuestImage.kernelVariable)=\(shown(path)): it takes no kernel with \(GuestImage.variantVariable)=coverage, "
                + "whose instrumented kernel it would replace"
        }
    }
}

/// A value as a message repeats it: control characters escaped, at most 200
/// characters and then the length (a variable's value can be anything).
private func shown(_ value: String) -> String {
    let escaped = value.unicodeScalars.prefix(200).map { scalar in
        scalar.properties.generalCategory == .control ? "\\u{" + String(scalar.value, radix: 16) + "}" : String(scalar)
    }.joined()
    return value.unicodeScalars.count > 200 ? escaped + "... (\(value.utf8.count) bytes)" : escaped
}
