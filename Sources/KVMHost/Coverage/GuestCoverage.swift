import Foundation

// A guest's coverage profile: read out of guest memory when the guest has
// stopped (or at any stop between events), written as a raw profile.

extension LiveGuest {
    /// The raw profile of everything the kernel ran since boot.
    public func coverageProfile() throws(CoverageError) -> [UInt8] {
        guard let sections = try profileSections?.check() else { throw .notInstrumented }
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
    /// The file is written as `UserFiles.write` writes: a regular file
    /// whole or not at all, a device or FIFO as what it is.
    public func writeCoverageProfile(to path: String) throws(CoverageError) {
        let profile: [UInt8]
        do {
            profile = try coverageProfile()
        } catch {
            CoverageDirectory.noteFailure(path)
            throw error
        }
        do {
            try UserFiles.write(to: path) { write in try profile.withUnsafeBytes { try write($0.baseAddress!, $0.count) } }
        } catch let error as FileAccessError {
            CoverageDirectory.noteFailure(path)
            throw .cannotWrite(path: path, reason: error.reason)
        } catch {
            CoverageDirectory.noteFailure(path)
            throw .cannotWrite(path: path, reason: "\(error)")
        }
    }
}

/// Where every instrumented guest of this process leaves its profile when it
/// is released: $KVMHOST_COVERAGE_DIR, for scripts/coverage (one file a
/// guest, named by process and guest, so that parallel test processes never
/// share one).
/// A profile that could not be left there is counted (`failures`): the
/// guest's release cannot throw, and a profile asked for and not written
/// must not go unnoticed (kvmhost exits 74 for it).
public enum CoverageDirectory {
    static let path = ProcessInfo.processInfo.environment[KVMHostEnvironment.coverageDirectory].flatMap { $0.isEmpty ? nil : $0 }
    private static let counter = Counter()
    private static let failed = Counter()

    static func nextFile() -> String? {
        guard let path else { return nil }
        return "\(path)/guest-\(getpid())-\(counter.next()).profraw"
    }

    /// How many profiles this process could not leave in the directory.
    public static var failures: Int { failed.current }

    static func noteFailure(_ file: String) {
        guard let path, file.hasPrefix(path + "/guest-\(getpid())-") else { return }
        _ = failed.next()
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
        var current: Int { lock.withLock { value } }
    }
}
