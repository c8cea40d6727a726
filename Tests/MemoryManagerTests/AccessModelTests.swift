import MemoryManager
import XCTest

final class AccessModelTests: XCTestCase {
    private func check(leaf: PageTableFlags, parent: PageTableFlags, _ access: AccessKind, writeProtect: Bool,
                       alignmentCheck: Bool = false) -> AccessCheck {
        let found = (0..<AccessCheck.count).map(AccessCheck.init(index:)).first {
            $0.leaf == leaf && $0.parent == parent && $0.access == access && $0.writeProtect == writeProtect
                && $0.alignmentCheckFlag == alignmentCheck
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

    private func hugeLeaf(level: Int, _ leaf: PageTableFlags, _ reserved: ReservedLeafBit, _ access: AccessKind,
                          writeProtect: Bool = true) -> HugeLeafCheck {
        (0..<HugeLeafCheck.count).map(HugeLeafCheck.init(index:)).first {
            $0.level == level && $0.leaf == leaf && $0.reserved == reserved && $0.access == access && $0.writeProtect == writeProtect
        }!
    }

    func testEveryHugeLeafCombinationOnce() {
        let all = (0..<HugeLeafCheck.count).map(HugeLeafCheck.init(index:))
        XCTAssertEqual(Set(all.map { "\($0)" }).count, HugeLeafCheck.count)
        XCTAssertEqual(all.filter { $0.level == 3 }.count, HugeLeafCheck.count / 2)
    }

    /// RSVD (0x8 with P) for each reserved bit of a present huge leaf, the
    /// huge flag of a PDPT entry without pdpe1gb among them; the entry
    /// carries the bit and keeps the leaf's alignment.
    func testHugeLeavesAndTheirReservedBits() {
        let readWrite: PageTableFlags = [.present, .writable]
        let modes = MMUModes(noExecute: true, smep: false, smap: false, gigabytePages: true, physicalAddressBits: 40)
        XCTAssertNil(hugeLeaf(level: 2, readWrite, .none, .write).predictedFault(modes))
        XCTAssertNil(hugeLeaf(level: 3, readWrite, .none, .write).predictedFault(modes))
        XCTAssertEqual(hugeLeaf(level: 2, readWrite, .belowAlignment, .write).predictedFault(modes), 0xB)
        XCTAssertEqual(hugeLeaf(level: 3, readWrite, .abovePhysicalAddress, .fetch).predictedFault(modes), 0x19)
        XCTAssertEqual(hugeLeaf(level: 3, [.writable], .abovePhysicalAddress, .read).predictedFault(modes), 0, "not present comes first")
        XCTAssertEqual(hugeLeaf(level: 2, [.present], .none, .write).predictedFault(modes), 0x3, "CR0.WP over a read-only leaf")
        XCTAssertEqual(hugeLeaf(level: 3, [.present, .noExecute], .none, .fetch).predictedFault(modes), 0x11)
        var noGigabytes = modes
        noGigabytes.gigabytePages = false
        XCTAssertEqual(hugeLeaf(level: 3, readWrite, .none, .read).predictedFault(noGigabytes), 0x9)
        XCTAssertNil(hugeLeaf(level: 2, readWrite, .none, .read).predictedFault(noGigabytes))
        var wide = modes
        wide.physicalAddressBits = 52
        XCTAssertNil(hugeLeaf(level: 2, readWrite, .abovePhysicalAddress, .read).predictedFault(wide), "no address bit is missing")
        let oneGiB = hugeLeaf(level: 3, readWrite, .belowAlignment, .read)
        XCTAssertEqual(oneGiB.entry(around: (5 << 30) + 0x1234_5000, modes), (5 << 30) | 0x2083)
        XCTAssertEqual(hugeLeaf(level: 2, readWrite, .abovePhysicalAddress, .read).entry(around: 0x345_6000, modes),
                       (1 << 40) | 0x340_0000 | 0x83)
    }

    func testSMEPAndSMAPOverUserPages() {
        let user: PageTableFlags = [.present, .user]
        let userWritable: PageTableFlags = [.present, .user, .writable]
        let both = MMUModes(noExecute: true, smep: true, smap: true)
        // Without SMEP and SMAP ring 0 reaches user pages as its own.
        XCTAssertNil(check(leaf: user, parent: userWritable, .read, writeProtect: true).predictedFault(MMUModes()))
        XCTAssertNil(check(leaf: user, parent: userWritable, .fetch, writeProtect: true).predictedFault(MMUModes()))
        // SMAP: a read or write of a user page faults with protection, unless EFLAGS.AC.
        XCTAssertEqual(check(leaf: user, parent: userWritable, .read, writeProtect: true).predictedFault(both), 0x1)
        XCTAssertEqual(check(leaf: userWritable, parent: userWritable, .write, writeProtect: false).predictedFault(both), 0x3)
        XCTAssertNil(check(leaf: user, parent: userWritable, .read, writeProtect: true, alignmentCheck: true).predictedFault(both))
        // With AC the write is back under CR0.WP's rules.
        XCTAssertEqual(check(leaf: user, parent: userWritable, .write, writeProtect: true, alignmentCheck: true).predictedFault(both), 0x3)
        XCTAssertNil(check(leaf: user, parent: userWritable, .write, writeProtect: false, alignmentCheck: true).predictedFault(both))
        // SMEP: a fetch from a user page faults, AC or not; a supervisor parent makes it a supervisor page.
        XCTAssertEqual(check(leaf: user, parent: userWritable, .fetch, writeProtect: true, alignmentCheck: true).predictedFault(both), 0x11)
        XCTAssertNil(check(leaf: user, parent: [.present, .writable], .fetch, writeProtect: true).predictedFault(both))
        XCTAssertNil(check(leaf: user, parent: [.present, .writable], .read, writeProtect: true).predictedFault(both))
        // SMEP alone gives the fetch bit even with NXE off.
        let smepOnly = MMUModes(noExecute: false, smep: true, smap: false)
        XCTAssertEqual(check(leaf: user, parent: userWritable, .fetch, writeProtect: false).predictedFault(smepOnly), 0x11)
        XCTAssertEqual(check(leaf: [.user], parent: userWritable, .fetch, writeProtect: false).predictedFault(smepOnly), 0x10)
        XCTAssertEqual(check(leaf: [.user], parent: userWritable, .fetch, writeProtect: false).predictedFault(MMUModes(noExecute: false)), 0)
    }

    func testAccessedAndDirtyBits() {
        let allowed = AccessedDirty(leafAccessed: true, leafDirty: false, parentAccessed: true, parentDirty: false)
        XCTAssertTrue(allowed.isAllowed(after: .read, faulted: false))
        XCTAssertTrue(allowed.isAllowed(after: .fetch, faulted: false))
        XCTAssertFalse(allowed.isAllowed(after: .write, faulted: false), "a write sets the leaf's dirty bit")
        var written = allowed
        written.leafDirty = true
        XCTAssertTrue(written.isAllowed(after: .write, faulted: false))
        XCTAssertFalse(written.isAllowed(after: .read, faulted: false), "a read does not")
        let untouched = AccessedDirty(byte: 0)
        XCTAssertFalse(untouched.isAllowed(after: .read, faulted: false), "an access allowed sets accessed")
        XCTAssertTrue(untouched.isAllowed(after: .write, faulted: true))
        XCTAssertTrue(AccessedDirty(byte: 4).isAllowed(after: .write, faulted: true), "the parent's accessed bit on a fault is the CPU's choice")
        XCTAssertFalse(AccessedDirty(byte: 1).isAllowed(after: .read, faulted: true), "a fault leaves the leaf as it was")
        XCTAssertFalse(AccessedDirty(byte: 8 | 5).isAllowed(after: .read, faulted: false), "a PD entry's dirty bit is never set")
        for byte in 0..<16 as Range<UInt8> { XCTAssertEqual(AccessedDirty(byte: byte).byte, byte) }
        let outcome = AccessOutcome(fault: 0x15, bits: written)
        XCTAssertEqual(AccessOutcome(outcome.bytes.0, outcome.bytes.1), outcome)
        XCTAssertEqual(AccessOutcome(0, 0).fault, nil)
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
