import Foundation
import KVMHost
import XCTest

/// The backends a run's guest-behaviour tests use, from KVMHOST_BACKEND:
/// `kvm`, `tcg` or `both`. Unset, it is kvm, or tcg where /dev/kvm is
/// missing (a run without KVM still checks the guest).
public enum GuestBackends {
    public static let variable = "KVMHOST_BACKEND"

    public struct Selection: Equatable {
        /// The backends to run on, in this order.
        public var available: [Backend]
        /// Selected backends that cannot run here, and why.
        public var missing: [String]

        public init(available: [Backend], missing: [String]) {
            self.available = available
            self.missing = missing
        }
    }

    /// What `value` (KVMHOST_BACKEND's, nil when unset) selects, given which
    /// backends can run; nil for a value that names none.
    public static func selection(_ value: String?, unavailable: (Backend) -> String? = { $0.unavailableReason }) -> Selection? {
        let asked: [Backend]
        switch value {
        case nil, "": asked = unavailable(.kvm) == nil ? [.kvm] : [.kvm, .tcg]
        case "both": asked = [.kvm, .tcg]
        case let name?:
            guard let backend = Backend(rawValue: name) else { return nil }
            asked = [backend]
        }
        var selection = Selection(available: [], missing: [])
        for backend in asked {
            if let reason = unavailable(backend) { selection.missing.append("\(backend): \(reason)") } else { selection.available.append(backend) }
        }
        // Unset, tcg stands in for a missing kvm; kvm's absence alone is no skip.
        if value == nil || value == "", !selection.available.isEmpty { selection.missing.removeAll() }
        return selection
    }

    public static var current: Selection {
        get throws {
            let value = ProcessInfo.processInfo.environment[variable]
            guard let selection = selection(value) else {
                throw BackendVariableError(value: value ?? "")
            }
            return selection
        }
    }
}

public struct BackendVariableError: Error, CustomStringConvertible {
    public var value: String
    public var description: String { "\(GuestBackends.variable)=\(value) names no backend: use kvm, tcg or both" }
}

/// A test case whose tests check the guest's behaviour, not the VMM's: each
/// runs its body on every selected backend (`onEachBackend`), and a failure
/// says which backend it happened on.
open class GuestBehaviourTestCase: XCTestCase {
    /// The backend the body runs on now; nil outside `onEachBackend`.
    public private(set) var backend: Backend?

    /// Runs `body` once per selected backend, kvm first. A backend selected
    /// but not available here is a skip naming it, after the others ran.
    public func onEachBackend(file: StaticString = #filePath, line: UInt = #line, _ body: (Backend) throws -> Void) throws {
        let selection = try GuestBackends.current
        for backend in selection.available {
            self.backend = backend
            defer { self.backend = nil }
            do {
                try body(backend)
            } catch let skip as XCTSkip {
                throw skip
            } catch {
                throw BackendFailure(backend: backend, error: error)
            }
        }
        if !selection.missing.isEmpty {
            throw XCTSkip("this test boots live guests; cannot run here: " + selection.missing.joined(separator: "; "), file: file, line: line)
        }
    }

    /// A guest on the backend the body runs on (inside `onEachBackend`).
    public func liveGuest(kernel: [UInt8], configuration: LiveGuest.Configuration = .init()) throws -> LiveGuest {
        guard let backend else { preconditionFailure("liveGuest(kernel:) outside onEachBackend") }
        var configuration = configuration
        configuration.backend = backend
        return try LiveGuest(kernel: kernel, configuration: configuration)
    }

    open override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        let prefix = backend.map { "[on \($0)] " } ?? ""
        super.recordFailure(withDescription: prefix + description, inFile: filePath, atLine: lineNumber, expected: expected)
    }
}

/// An error a test's body threw on one backend.
public struct BackendFailure: Error, CustomStringConvertible {
    public var backend: Backend
    public var error: Error
    public var description: String { "on \(backend): \(error)" }
}
