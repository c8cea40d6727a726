import Foundation

/// The guest kernels this package builds from Sources/Guest: guest.elf, and
/// guest-coverage.elf, the same kernel instrumented for source-based coverage.
public enum GuestImage {
    /// Where the built guest.elf lies; guest-coverage.elf instead when
    /// $KVMHOST_GUEST_VARIANT is `coverage` (scripts/coverage runs the suite so).
    public static var kernelURL: URL { instrumented ? coverageKernelURL : resource("guest") }

    /// Whether this process's kernel is the one built for coverage.
    public static let instrumented: Bool = {
        switch ProcessInfo.processInfo.environment["KVMHOST_GUEST_VARIANT"] ?? "plain" {
        case "plain", "": return false
        case "coverage": return true
        case let other: fatalError("KVMHOST_GUEST_VARIANT=\(other): it is plain or coverage")
        }
    }()

    /// Where the built guest.elf lies, whatever the variant.
    public static var plainKernelURL: URL { resource("guest") }

    /// The bytes of guest.elf.
    public static func kernel() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: kernelURL))
    }

    /// Where the built guest-coverage.elf lies: `llvm-cov` reads its coverage mapping.
    public static var coverageKernelURL: URL { resource("guest-coverage") }

    /// The bytes of guest-coverage.elf.
    public static func coverageKernel() throws -> [UInt8] {
        [UInt8](try Data(contentsOf: coverageKernelURL))
    }

    private static func resource(_ name: String) -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: "elf") else {
            fatalError("\(name).elf is missing from the GuestImage bundle: the BuildGuest plugin did not run")
        }
        return url
    }
}
