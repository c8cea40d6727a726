import MemoryManager
import GuestProtocol
import KVMHost
import XCTest

/// Runs a live guest's access checks in chunks a reply holds and compares
/// every combination with the model: the error code (or none) and the
/// accessed and dirty bits read back. A combination that disagrees is run
/// again alone, so the failure shows the kernel's walk of the target as
/// the MMU left it.
public struct AccessCheckRun {
    public let total: Int
    /// The call for combinations `first ..< first + count`.
    public let call: (_ first: UInt64, _ count: UInt64) throws -> AccessCheckResults
    /// What the model predicts for combination `index`: its error code, its
    /// access, and a description for messages.
    public let predict: (_ index: Int) -> (fault: UInt64?, access: AccessKind, description: String)
    /// Whether combination `index`, faulting, sets its leaf's accessed bit
    /// where the model has it untouched (a backend's quirk, `MMUQuirks`).
    public let leafAccessedOnFault: (_ index: Int) -> Bool

    public init(total: Int, call: @escaping (UInt64, UInt64) throws -> AccessCheckResults,
                predict: @escaping (Int) -> (fault: UInt64?, access: AccessKind, description: String),
                leafAccessedOnFault: @escaping (Int) -> Bool = { _ in false }) {
        self.total = total
        self.call = call
        self.predict = predict
        self.leafAccessedOnFault = leafAccessedOnFault
    }

    /// The number of combinations that faulted; one failure a disagreeing combination.
    @discardableResult
    public func compare(context: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        var faults = 0
        var first = 0
        while first < total {
            let count = min(Int(RunAccessChecks.limit), total - first)
            let results = try call(UInt64(first), UInt64(count))
            XCTAssertEqual(results.count, count, "\(context): outcomes of \(first)..<\(first + count)", file: file, line: line)
            for offset in 0..<min(count, results.count) {
                let index = first + offset
                guard let outcome = results.outcome(offset) else { continue }
                let expected = predict(index)
                if outcome.fault != nil { faults += 1 }
                let faultAgrees = outcome.fault == expected.fault
                let bits = outcome.bits
                let bitsAgree = outcome.fault != nil && leafAccessedOnFault(index)
                    ? bits.leafAccessed && !bits.leafDirty && !bits.parentDirty
                    : bits.isAllowed(after: expected.access, faulted: outcome.fault != nil)
                guard !faultAgrees || !bitsAgree else { continue }
                let walk = (try? call(UInt64(index), 1).lastWalk.entries.map { "0x" + String($0, radix: 16) }
                    .joined(separator: " -> ")) ?? "(not read)"
                XCTFail("\(context): combination \(index), \(expected.description): the MMU gave "
                        + "\(outcome.fault.map { "fault 0x" + String($0, radix: 16) } ?? "no fault"), \(outcome.bits); "
                        + "the model \(expected.fault.map { "fault 0x" + String($0, radix: 16) } ?? "no fault"); "
                        + "the kernel's walk of 0x\(String(AccessCheckTarget.address, radix: 16)) after it: \(walk)",
                        file: file, line: line)
            }
            first += count
        }
        return faults
    }
}
