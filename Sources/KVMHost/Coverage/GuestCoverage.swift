import Foundation

// A guest's coverage profile: read out of guest memory when the guest has
// stopped (or at any stop between events), written as a raw profile.

extension LiveGuest {
    /// The raw profile of everything the kernel ran since boot.
    public func coverageProfile() throws(CoverageError) -> [UInt8] {
        guard let sections = profileSections else { throw .notInstrumented }
        func read(_ name: String, _ placement: ProfileSections.Placement) throws(CoverageError) -> [UInt8] {
            guard placement.size > 0 else { return [] }
            do {
                return try memory.read(at: placement.physical, count: Int(placement.size))
            } catch {
                throw .unreadable(name, physical: placement.physical, size: placement.size)
            }
        }
        return RawProfile.encode(data: try read("__llvm_prf_data", sections.data),
                                 counters: try read("__llvm_prf_cnts", sections.counters),
                                 bitmap: try read("__llvm_prf_bits", sections.bitmap),
                                 names: try read("__llvm_prf_names", sections.names),
                                 sections: sections)
    }

    /// Writes `coverageProfile()` to `path` (a .profraw for llvm-profdata).
    public func writeCoverageProfile(to path: String) throws(CoverageError) {
        let profile = try coverageProfile()
        do {
            try Data(profile).write(to: URL(fileURLWithPath: path))
        } catch {
            throw .cannotWrite(path: path, reason: error.localizedDescription)
        }
    }
}

/// Where every instrumented guest of this process leaves its profile when it
/// is released: $KVMHOST_COVERAGE_DIR, for scripts/coverage (one file a
/// guest, named by process and guest, so that parallel test processes never
/// share one).
enum CoverageDirectory {
    static let path = ProcessInfo.processInfo.environment["KVMHOST_COVERAGE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    private static let counter = Counter()

    static func nextFile() -> String? {
        guard let path else { return nil }
        return "\(path)/guest-\(getpid())-\(counter.next()).profraw"
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
    }
}
