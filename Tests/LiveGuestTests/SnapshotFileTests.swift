import Foundation
import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Snapshots to a file and back: the guest goes on from the file as from
/// the snapshot it was written from, and every way a file can be cut short
/// or be something else is a typed `SnapshotFileError`.
final class SnapshotFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-file-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }  // nil when setUp skipped
    }

    /// A booted guest's snapshot, written to a file: the file's bytes.
    /// A one-CPU guest's, whatever KVMHOST_SMP says: the damage below is
    /// placed by a one-CPU file's offsets (SeveralCPUsTests writes and
    /// reads a file of two).
    private func savedSnapshot() throws -> (guest: KVMGuest, snapshot: GuestSnapshot, bytes: [UInt8]) {
        try requireKVM()
        var configuration = LiveGuest.Configuration()
        configuration.cpuCount = 1
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: configuration)
        _ = try guest.boot()
        _ = try guest.call(AllocateFrames(count: 3))
        _ = try guest.runProgram("lazy-touch")
        let snapshot = try guest.snapshot()
        let path = directory.appendingPathComponent("guest.snapshot").path
        try SnapshotFile.write(snapshot, to: path)
        return (guest, snapshot, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    private func read(_ bytes: [UInt8]) throws -> GuestSnapshot {
        let path = directory.appendingPathComponent("candidate-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try SnapshotFile.read(from: path)
    }

    private func assertRefused(_ bytes: [UInt8], _ expected: SnapshotFileError, _ message: String = "", line: UInt = #line) {
        XCTAssertThrowsError(try read(bytes), message, line: line) { XCTAssertEqual($0 as? SnapshotFileError, expected, message, line: line) }
    }

    func testAGuestGoesOnFromItsFileAsFromItsSnapshot() throws {
        let (guest, snapshot, bytes) = try savedSnapshot()
        XCTAssertLessThan(bytes.count, snapshot.memorySize / 8, "pages of zeros are left out")
        let loaded = try read(bytes)
        XCTAssertEqual(loaded.memorySize, snapshot.memorySize)
        XCTAssertEqual(loaded.kernelDigest, snapshot.kernelDigest)
        XCTAssertEqual(loaded.cpu, snapshot.cpu)
        XCTAssertEqual(loaded.cpuFeatures, CPUSelection())
        for page in 0..<snapshot.memorySize / 4096 {
            let same = try snapshot.withMemory(at: UInt64(page) * 4096, count: 4096) { a in
                try loaded.withMemory(at: UInt64(page) * 4096, count: 4096) { b in memcmp(a.baseAddress!, b.baseAddress!, 4096) == 0 }
            }
            XCTAssertTrue(same, "page \(page)")
            if !same { break }
        }
        let fromFile = try KVMGuest(snapshot: loaded, kernel: GuestImage.kernel())
        XCTAssertEqual(fromFile.programReports, [280], "the reports kept travel with the file")
        XCTAssertEqual(fromFile.serial.text, guest.serial.text)
        XCTAssertEqual(fromFile.memoryMap, guest.memoryMap)
        for call in 0..<3 {
            XCTAssertEqual(try fromFile.call(AllocateFrames(count: 5)), try guest.call(AllocateFrames(count: 5)), "call \(call)")
        }
        XCTAssertEqual(try fromFile.runProgram("lazy-touch").reallocations, try guest.runProgram("lazy-touch").reallocations)
        XCTAssertEqual(try fromFile.shutdown(status: 9), 9)
    }

    /// Cut at every section boundary and every 256 bytes of the sections
    /// before memory, and within memory: a typed error naming where, each time.
    func testEveryTruncationIsATypedError() throws {
        let (_, _, bytes) = try savedSnapshot()
        assertRefused([], .notASnapshot)
        assertRefused(Array(bytes[..<5]), .notASnapshot)
        assertRefused(Array(bytes[..<10]), .truncated(section: "file", needed: 4, available: 2))
        let memorySection = try XCTUnwrap(findTag("MEMP", in: bytes))
        var cuts = Array(stride(from: 12, to: memorySection + 64, by: 256)) + [memorySection, memorySection + 4, memorySection + 12]
        cuts += [bytes.count - 4096, bytes.count - 1]
        for cut in cuts {
            XCTAssertThrowsError(try read(Array(bytes[..<cut])), "cut at \(cut)") { error in
                guard case .truncated? = error as? SnapshotFileError else { return XCTFail("cut at \(cut): \(error)") }
            }
        }
    }

    func testAForeignOrDamagedFileIsATypedError() throws {
        let (_, _, bytes) = try savedSnapshot()
        assertRefused(try GuestImage.kernel(), .notASnapshot, "an ELF")
        XCTAssertEqual(bytes[8..<12], [4, 0, 0, 0], "version 4")
        var version = bytes
        version[8] = 3
        assertRefused(version, .unsupportedVersion(3))
        // The vCPUs: a count of none or too many, a local APIC where one CPU
        // has none, an irqchip where one CPU has none.
        let vcpu = try XCTUnwrap(findTag("VCPU", in: bytes))
        XCTAssertEqual(bytes[vcpu + 12..<vcpu + 16], [1, 0, 0, 0], "one vCPU")
        for count: UInt8 in [0, 9] {
            var cpus = bytes
            cpus[vcpu + 12] = count
            assertRefused(cpus, .badValue(section: "VCPU", "\(count) vCPUs, not 1 to 8"))
        }
        let vcpuLength = bytes[vcpu + 4..<vcpu + 12].reversed().reduce(0) { $0 << 8 | Int($1) }
        var localAPIC = bytes
        localAPIC[vcpu + 12 + vcpuLength - 3] = 4  // 1024 bytes claimed
        assertRefused(localAPIC, .badValue(section: "VCPU", "vCPU 0's local APIC of 1024 bytes where a guest of 1 CPU has 0"))
        let chips = try XCTUnwrap(findTag("IRQC", in: bytes))
        XCTAssertEqual(chips, vcpu + 12 + vcpuLength, "the irqchip follows the vCPUs")
        var chipCount = bytes
        chipCount[chips + 12] = 3
        assertRefused(chipCount, .badValue(section: "IRQC", "3 irqchip chips where a guest of 1 CPU has 0"))
        // The CPU features: a bit that names none, a feature both given and taken away.
        let cpu = try XCTUnwrap(findTag("CPUF", in: bytes))
        var unknownFeature = bytes
        unknownFeature[cpu + 12 + 7] = 0x80
        assertRefused(unknownFeature, .badValue(section: "CPUF", "features 0x8000000000000000 given and 0x0 taken away: "
                                                + "not features of lm, nx, pdpe1gb, smep, smap, pcid, or some both"))
        var both = bytes
        both[cpu + 12] = 0x02
        both[cpu + 20] = 0x02
        assertRefused(both, .badValue(section: "CPUF", "features 0x2 given and 0x2 taken away: "
                                      + "not features of lm, nx, pdpe1gb, smep, smap, pcid, or some both"))
        var size = bytes
        size[12..<20] = [0, 0, 0, 0, 0, 0, 0, 0x10]  // 2^60 bytes of memory
        assertRefused(size, .badValue(section: "file", "memory size \(UInt64(1) << 60) is not a guest size this host builds"))
        // Where RAM lies: no range, one not from 0, one past the memory's end.
        let ram = try XCTUnwrap(findTag("RAMR", in: bytes))
        XCTAssertEqual(bytes[ram + 12..<ram + 20], [1, 0, 0, 0, 0, 0, 0, 0], "one range")
        var noRange = bytes
        noRange[ram + 12] = 0
        XCTAssertThrowsError(try read(noRange)) { error in
            guard case .badValue(section: "RAMR", _)? = error as? SnapshotFileError else { return XCTFail("\(error)") }
        }
        var notFromZero = bytes
        notFromZero[ram + 21] = 0x10  // starts at 0x1000
        assertRefused(notFromZero, .badValue(section: "RAMR", "[0x1000, 0x4000000) does not follow as RAM does: page-aligned, ascending, the first from 0"))
        var pastTheEnd = bytes
        pastTheEnd[ram + 31] = 0x01  // ends 2^56 beyond
        XCTAssertThrowsError(try read(pastTheEnd)) { error in
            guard case .badValue(section: "RAMR", _)? = error as? SnapshotFileError else { return XCTFail("\(error)") }
        }
        var tag = bytes
        let host = try XCTUnwrap(findTag("HOST", in: bytes))
        tag[host] = UInt8(ascii: "X")
        assertRefused(tag, .unexpectedSection(found: "XOST", expected: "HOST"))
        var length = bytes
        length[host + 4..<host + 12] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        XCTAssertThrowsError(try read(length)) { error in
            guard case .truncated(section: "HOST", _, _)? = error as? SnapshotFileError else { return XCTFail("\(error)") }
        }
        assertRefused(bytes + [0], .trailingBytes(section: "file", count: 1))
        // One page more marked present than the file holds.
        let memory = try XCTUnwrap(findTag("MEMP", in: bytes))
        var bitmap = bytes
        let words = memory + 12
        let firstClear = try XCTUnwrap((0..<64).first { bitmap[words] & (1 << $0) == 0 })
        bitmap[words] |= 1 << firstClear
        XCTAssertThrowsError(try read(bitmap)) { error in
            guard case .badValue(section: "MEMP", _)? = error as? SnapshotFileError else { return XCTFail("\(error)") }
        }
    }

    /// A file of RAM around a hole: a page marked present in the hole is
    /// refused by address, not written into the memory file's hole.
    func testAPageMarkedPresentOutsideRAMIsRefused() throws {
        try requireKVM()
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(ram: [0..<(16 << 20), 0x1_0000_0000..<0x1_0100_0000]))
        _ = try guest.boot()
        let path = directory.appendingPathComponent("split.snapshot").path
        try SnapshotFile.write(try guest.snapshot(), to: path)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try read(bytes).ram, [0..<(16 << 20), 0x1_0000_0000..<0x1_0100_0000])
        let memory = try XCTUnwrap(findTag("MEMP", in: bytes))
        var inTheHole = bytes
        let holePage = (32 << 20) / 4096  // 0x2000000, between the ranges
        inTheHole[memory + 12 + holePage / 8] |= 1 << UInt8(holePage % 8)
        let length = UInt64(bytes.count - memory - 12) + 4096
        inTheHole.replaceSubrange(memory + 4..<memory + 12, with: withUnsafeBytes(of: length.littleEndian, Array.init))
        inTheHole += [UInt8](repeating: 0xAB, count: 4096)
        assertRefused(inTheHole, .badValue(section: "MEMP", "page 0x2000000 marked present outside RAM"))
    }

    func testAFileIsWrittenWholeOrNotAtAll() throws {
        let (_, snapshot, _) = try savedSnapshot()
        let missing = directory.appendingPathComponent("no-such-directory/guest.snapshot").path
        XCTAssertThrowsError(try SnapshotFile.write(snapshot, to: missing)) { error in
            XCTAssertEqual(error as? FileAccessError, FileAccessError(
                path: missing, access: .write, reason: "its directory does not exist (No such file or directory (errno 2))"))
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".partial-") }
        XCTAssertEqual(leftovers, [])
    }

    private func findTag(_ tag: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(tag.utf8)
        return (28..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == needle }
    }
}
