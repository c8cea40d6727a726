import GuestMemory
import XCTest

final class AccessModelTests: XCTestCase {
    private func check(leaf: PageTableFlags, parent: PageTableFlags, _ access: AccessKind, writeProtect: Bool) -> AccessCheck {
        let found = (0..<AccessCheck.count).map(AccessCheck.init(index:)).first {
            $0.leaf == leaf && $0.parent == parent && $0.access == access && $0.writeProtect == writeProtect
        }
        return found!
    }

    func testEveryCombinationOnce() {
        let all = (0..<AccessCheck.count).map(AccessCheck.init(index:))
        for (index, check) in all.enumerated() {
            XCTAssertFalse(all[..<index].contains(check), "combination \(index) repeats")
        }
    }

    func testKnownCasesFromTheArchitecture() {
        let present: PageTableFlags = [.present]
        let writable: PageTableFlags = [.present, .writable]
        // A supervisor write to a read-only page with CR0.WP: protection + write = 3.
        XCTAssertEqual(check(leaf: present, parent: writable, .write, writeProtect: true).predictedFault, 3)
        // Without CR0.WP the same write is allowed.
        XCTAssertNil(check(leaf: present, parent: writable, .write, writeProtect: false).predictedFault)
        // A read-only parent restricts a writable leaf.
        XCTAssertEqual(check(leaf: writable, parent: present, .write, writeProtect: true).predictedFault, 3)
        // A fetch from a no-execute page: protection + fetch = 0x11; NX on the parent counts too.
        XCTAssertEqual(check(leaf: [.present, .noExecute], parent: writable, .fetch, writeProtect: true).predictedFault, 0x11)
        XCTAssertEqual(check(leaf: present, parent: [.present, .noExecute], .fetch, writeProtect: false).predictedFault, 0x11)
        // Not present: no protection bit, the access bits still tell what it was.
        XCTAssertEqual(check(leaf: [.writable], parent: writable, .read, writeProtect: true).predictedFault, 0)
        XCTAssertEqual(check(leaf: writable, parent: [.writable], .write, writeProtect: false).predictedFault, 2)
        XCTAssertEqual(check(leaf: [], parent: [], .fetch, writeProtect: true).predictedFault, 0x10)
        XCTAssertNil(check(leaf: [.present, .noExecute], parent: [.present, .noExecute], .read, writeProtect: true).predictedFault)
    }
}

final class UserAccessModelTests: XCTestCase {
    private func check(leaf: PageTableFlags, parent: PageTableFlags, _ access: AccessKind) -> UInt64? {
        (0..<UserAccessCheck.count).map(UserAccessCheck.init(index:))
            .first { $0.leaf == leaf && $0.parent == parent && $0.access == access }!.predictedFault
    }

    func testRing3Rules() {
        let user: PageTableFlags = [.present, .user]
        let userWritable: PageTableFlags = [.present, .user, .writable]
        XCTAssertNil(check(leaf: user, parent: userWritable, .read))
        XCTAssertEqual(check(leaf: [.present], parent: userWritable, .read), 0x5, "a supervisor page: protection + user")
        XCTAssertEqual(check(leaf: user, parent: [.present, .writable], .read), 0x5, "a supervisor-only parent restricts the leaf")
        XCTAssertEqual(check(leaf: user, parent: userWritable, .write), 0x7, "read-only: ring 3 ignores CR0.WP")
        XCTAssertEqual(check(leaf: [.present, .user, .noExecute], parent: userWritable, .fetch), 0x15)
        XCTAssertNil(check(leaf: user, parent: userWritable, .fetch))
        XCTAssertEqual(check(leaf: [.user], parent: userWritable, .write), 0x6, "not present: no protection bit")
    }
}
