import KVMHost
import TestSupport
import XCTest

/// Which backends KVMHOST_BACKEND selects, with each backend present or not.
final class GuestBackendsTests: XCTestCase {
    private func selection(_ value: String?, missing: Set<Backend>) -> GuestBackends.Selection? {
        GuestBackends.selection(value) { missing.contains($0) ? "\($0) is not here" : nil }
    }

    func testEachValueOnEachMachine() {
        typealias S = GuestBackends.Selection
        // Unset (or empty): kvm; tcg stands in where /dev/kvm is missing; neither is a skip naming both.
        for unset in [nil, ""] as [String?] {
            XCTAssertEqual(selection(unset, missing: []), S(available: [.kvm], missing: []))
            XCTAssertEqual(selection(unset, missing: [.tcg]), S(available: [.kvm], missing: []))
            XCTAssertEqual(selection(unset, missing: [.kvm]), S(available: [.tcg], missing: []))
            XCTAssertEqual(selection(unset, missing: [.kvm, .tcg]), S(available: [], missing: ["kvm: kvm is not here", "tcg: tcg is not here"]))
        }
        XCTAssertEqual(selection("kvm", missing: []), S(available: [.kvm], missing: []))
        XCTAssertEqual(selection("kvm", missing: [.kvm]), S(available: [], missing: ["kvm: kvm is not here"]), "no silent fallback")
        XCTAssertEqual(selection("tcg", missing: []), S(available: [.tcg], missing: []))
        XCTAssertEqual(selection("tcg", missing: [.tcg]), S(available: [], missing: ["tcg: tcg is not here"]))
        XCTAssertEqual(selection("both", missing: []), S(available: [.kvm, .tcg], missing: []))
        XCTAssertEqual(selection("both", missing: [.tcg]), S(available: [.kvm], missing: ["tcg: tcg is not here"]))
        XCTAssertNil(selection("qemu", missing: []))
        XCTAssertNil(selection("KVM", missing: []), "the names are QEMU's -accel values, exactly")
    }
}
