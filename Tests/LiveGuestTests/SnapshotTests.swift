import Foundation
import Glibc
import GuestImage
import GuestProtocol
import KVMHost
import ProcessResources
import TestSupport
import XCTest

/// `LiveGuest.snapshot()` and `restore(_:)` in the same VM: KVM's state of
/// the vCPU, all of guest memory (dirty pages only after the first restore)
/// and the host's side. KVM only: QEMU keeps the vCPU.
final class SnapshotTests: XCTestCase {
    private func bootedGuest(memorySize: Int = VirtualMachine.defaultMemorySize) throws -> KVMGuest {
        try requireKVM()
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: memorySize))
        _ = try guest.boot()
        return guest
    }

    /// Guest memory, byte for byte, against the snapshot's copy: the first
    /// page that differs, nil when none does.
    private func firstDifferingPage(_ guest: KVMGuest, _ snapshot: GuestSnapshot) throws -> Int? {
        for page in 0..<guest.memory.size / 4096 {
            let same = try guest.memory.withBytes(at: UInt64(page) * 4096, count: 4096) { live in
                try snapshot.withMemory(at: UInt64(page) * 4096, count: 4096) { saved in memcmp(live.baseAddress!, saved.baseAddress!, 4096) == 0 }
            }
            if !same { return page }
        }
        return nil
    }

    /// Work that changes the kernel's frames, page tables, heap and reports.
    private func work(_ guest: KVMGuest) throws -> [String] {
        let frames = try guest.call(AllocateFrames(count: 40))
        let mapped = try guest.call(MapPage(virtual: 0x4000_0000_0000, frame: .allocate, flags: [.writable]))
        let translated = try guest.call(Translate(virtual: 0x4000_0000_0123))
        let run = try guest.runProgram("lazy-touch")
        let statistics = try guest.call(ReadFrameStatistics())
        return ["\(frames)", "\(mapped)", "\(translated)", "\(run.outcome) \(run.reallocations) \(run.freeFramesBefore) \(run.freeFramesAfter)",
                "\(statistics)", "\(guest.programReports)", "\(guest.pageTraps)", guest.serial.text]
    }

    func testARestoredGuestHasTheSnapshotsMemoryAndRegisters() throws {
        let guest = try bootedGuest()
        let snapshot = try guest.snapshot()
        XCTAssertNil(try firstDifferingPage(guest, snapshot), "the copy is the memory")
        XCTAssertEqual(guest.vcpu.snapshot(), snapshot.cpu)
        _ = try work(guest)
        XCTAssertNotNil(try firstDifferingPage(guest, snapshot), "the work wrote memory")
        let copied = try guest.restore(snapshot)
        XCTAssertGreaterThan(copied, 0)
        XCTAssertLessThan(copied, guest.memory.size / 4096 / 8, "only the pages written since, not all of memory")
        XCTAssertNil(try firstDifferingPage(guest, snapshot), "every page back, the written ones included")
        XCTAssertEqual(guest.vcpu.snapshot(), snapshot.cpu)
        XCTAssertEqual(guest.programReports, [])
        XCTAssertEqual(guest.pageTraps, [])
    }

    /// Taking a snapshot copies only the pages the guest or the host ever
    /// touched (the rest read as zeros, as the memory file starts), yet the
    /// copy is all of memory; a guest whose memory is the snapshot's file
    /// has every page copied.
    func testTakingASnapshotCopiesTheTouchedPagesAlone() throws {
        let guest = try bootedGuest()
        let pages = guest.memory.size / 4096
        let resident = try guest.memory.residentBytes(in: 0..<UInt64(guest.memory.size)) / 4096
        let snapshot = try guest.snapshot()
        XCTAssertGreaterThanOrEqual(snapshot.pagesCopied, resident, "every page in host memory")
        XCTAssertLessThan(snapshot.pagesCopied, pages / 8, "a booted guest touched little of its memory")
        let taken = snapshot.hostBytes
        XCTAssertGreaterThanOrEqual(taken, snapshot.pagesCopied * 4096, "host memory for the pages copied")
        XCTAssertLessThan(taken, guest.memory.size / 8, "and not for the rest")

        // Writing it to a file and rewinding another guest to it read its
        // pages of data alone: its holes stay holes.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("touched-\(UUID().uuidString).snapshot").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SnapshotFile.write(snapshot, to: path)
        let other = try bootedGuest()
        XCTAssertEqual(try other.restore(snapshot), pages, "another snapshot's guest: all of memory")
        XCTAssertEqual(snapshot.hostBytes, taken, "nothing read from the holes took memory")
        let loaded = try SnapshotFile.read(from: path)
        XCTAssertLessThanOrEqual(loaded.hostBytes, snapshot.hostBytes, "a snapshot from a file holds its pages that are not zeros")

        // The copies are all of memory, untouched pages included.
        XCTAssertNil(try firstDifferingPage(guest, snapshot))
        XCTAssertNil(try firstDifferingPage(other, snapshot))
        XCTAssertNil(try firstDifferingPage(other, loaded))

        // Pages written after the first snapshot are in the next.
        _ = try work(guest)
        let later = try guest.snapshot()
        XCTAssertGreaterThan(later.pagesCopied, snapshot.pagesCopied)
        XCTAssertNil(try firstDifferingPage(guest, later))

        // A guest whose memory is a snapshot's file (read afresh: the
        // comparisons above gave every page of the others a page of data).
        let fresh = try SnapshotFile.read(from: path)
        let fromSnapshot = try KVMGuest(snapshot: fresh, kernel: GuestImage.kernel())
        let again = try fromSnapshot.snapshot()
        XCTAssertLessThan(again.pagesCopied, pages / 8, "from its file: the file's pages of data and those touched since")
        XCTAssertGreaterThanOrEqual(again.pagesCopied * 4096, fresh.hostBytes, "every page of the file's data")
        XCTAssertNil(try firstDifferingPage(fromSnapshot, again))
    }

    /// The same calls after each restore give the same replies, reports and
    /// console, every time: nothing of the first run survives into the next.
    func testARestoredGuestGoesOnIdentically() throws {
        let guest = try bootedGuest()
        let snapshot = try guest.snapshot()
        let first = try work(guest)
        for round in 0..<5 {
            try guest.restore(snapshot)
            XCTAssertEqual(try work(guest), first, "round \(round)")
        }
        // And a guest that shut down rewinds too.
        XCTAssertEqual(try guest.shutdown(status: 7), 7)
        XCTAssertEqual(guest.exitStatus, 7)
        try guest.restore(snapshot)
        XCTAssertNil(guest.exitStatus)
        XCTAssertEqual(try work(guest), first)
    }

    /// A snapshot later in the guest's life, then a rewind to the earlier
    /// one: restoring another snapshot than the last copies all of memory.
    func testRestoringAnotherSnapshotCopiesAllOfMemory() throws {
        let guest = try bootedGuest()
        let early = try guest.snapshot()
        _ = try work(guest)
        let late = try guest.snapshot()
        let pages = guest.memory.size / 4096
        XCTAssertEqual(try guest.restore(early), pages)
        XCTAssertNil(try firstDifferingPage(guest, early))
        XCTAssertEqual(try guest.restore(late), pages)
        XCTAssertNil(try firstDifferingPage(guest, late))
        XCTAssertEqual(guest.programReports, [280], "lazy-touch's report, as the late snapshot holds it")
        XCTAssertLessThan(try guest.restore(late), pages / 8)
    }

    /// A guest stopped by its deadline in the middle of a call (spinning in
    /// ring 0, the vCPU taken out of KVM_RUN by the watchdog) is rewound:
    /// all of memory and the vCPU as the snapshot has them, and it goes on.
    func testAGuestStoppedByItsDeadlineIsRewound() throws {
        let guest = try bootedGuest()
        let snapshot = try guest.snapshot()
        let before = try work(guest)
        try guest.restore(snapshot)
        XCTAssertThrowsError(try guest.call(Spin(), timeout: .milliseconds(200))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(.milliseconds(200)))
        }
        try guest.restore(snapshot)
        XCTAssertNil(try firstDifferingPage(guest, snapshot))
        XCTAssertEqual(guest.vcpu.snapshot(), snapshot.cpu)
        XCTAssertEqual(try work(guest), before)
    }

    /// A hostile guest writes every page of its memory but the one its code
    /// is on, up to the last byte (a size off any 2 MiB boundary, guard
    /// pages beyond), and its stack pointer: the restore copies back exactly
    /// those pages, from KVM's log, and nothing outside memory (an access
    /// there would crash this process), every round.
    func testAGuestThatWritesAllOfItsMemoryIsRestoredExactly() throws {
        try requireKVM()
        let size: UInt32 = 0x603000
        let codePage: UInt32 = 0x100000, pattern: UInt32 = 0xA5C3_3C5A, status: UInt32 = 77
        var code = Code32()
        code.sendRecord(at: UInt32(HostileRecords.recordAddress))
        code.fill(from: 0, to: codePage, with: pattern)
        code.fill(from: codePage + 0x1000, to: size, with: pattern)
        code.movESP(0xDEAD_BEE0)
        code.exit(status)
        var builder = ELFBuilder.guest(code: code.bytes, at: UInt64(codePage))
        builder.segments.append(.init(physicalAddress: HostileRecords.recordAddress, bytes: HostileRecords.ready()))
        // One CPU, whatever KVMHOST_SMP says: this guest starts no other.
        var configuration = LiveGuest.Configuration(memorySize: Int(size))
        configuration.cpuCount = 1
        let guest = try KVMGuest(kernel: builder.build(), configuration: configuration)
        _ = try guest.boot()
        let snapshot = try guest.snapshot()
        let pages = Int(size) / 4096
        for round in 0..<3 {
            XCTAssertEqual(try guest.runToExit(), status, "round \(round)")
            for page in [0, Int(codePage) / 4096 - 1, Int(codePage) / 4096 + 1, pages - 1] {
                let word = try guest.memory.withBytes(at: UInt64(page) * 4096 + 4092, count: 4) { $0.loadUnaligned(as: UInt32.self) }
                XCTAssertEqual(word, pattern, "round \(round): page \(page) written by the guest")
            }
            XCTAssertEqual(try guest.restore(snapshot), pages - 1, "round \(round): every page but the code's")
            XCTAssertNil(try firstDifferingPage(guest, snapshot), "round \(round)")
            XCTAssertEqual(guest.vcpu.snapshot(), snapshot.cpu, "round \(round)")
            XCTAssertNil(guest.exitStatus, "round \(round)")
        }
    }

    /// A new VM from a snapshot: the same memory and registers, shared
    /// copy-on-write (neither guest's writes reach the other or the
    /// snapshot), and it goes on as the original did.
    func testANewVMFromASnapshotGoesOnAsTheOriginal() throws {
        let original = try bootedGuest()
        let snapshot = try original.snapshot()
        let kernel = try GuestImage.kernel()
        let copy = try KVMGuest(snapshot: snapshot, kernel: kernel)
        XCTAssertNil(try firstDifferingPage(copy, snapshot))
        XCTAssertEqual(copy.vcpu.snapshot(), snapshot.cpu)
        XCTAssertEqual(copy.memoryMap, original.memoryMap)
        let first = try work(copy)
        XCTAssertNil(try firstDifferingPage(original, snapshot), "the copy's writes stay in the copy")
        XCTAssertEqual(try work(original), first)
        // The copy ran without the dirty log: its first restore copies all
        // of memory, later ones the pages written since.
        XCTAssertEqual(try copy.restore(snapshot), copy.memory.size / 4096)
        XCTAssertNil(try firstDifferingPage(copy, snapshot))
        XCTAssertEqual(try work(copy), first)
        XCTAssertLessThan(try copy.restore(snapshot), copy.memory.size / 4096 / 8)
        XCTAssertNil(try firstDifferingPage(copy, snapshot))
        // Several at once, from one snapshot.
        let more = try (0..<3).map { _ in try KVMGuest(snapshot: snapshot, kernel: kernel) }
        for guest in more { XCTAssertEqual(try work(guest), first) }
    }

    func testASnapshotOfAnotherKernelIsRefused() throws {
        let guest = try bootedGuest()
        let snapshot = try guest.snapshot()
        let other = try GuestImage.kernel() + [0]
        XCTAssertThrowsError(try KVMGuest(snapshot: snapshot, kernel: other)) {
            guard case .differentKernel(let digest, _)? = $0 as? SnapshotError else { return XCTFail("\($0)") }
            XCTAssertEqual(digest, snapshot.kernelDigest)
        }
    }

    /// The kernel chose its paging modes from the CPU it booted on: a
    /// snapshot goes on only with the same CPU features, which a new VM
    /// from it takes, and which travel through its file.
    func testASnapshotGoesOnOnlyOnTheCPUItWasTakenOn() throws {
        try requireKVM()
        let noNX = CPUSelection(disabled: [.nx])
        var configuration = LiveGuest.Configuration()
        configuration.cpu = noNX
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: configuration)
        _ = try guest.boot()
        let snapshot = try guest.snapshot()
        XCTAssertEqual(snapshot.cpuFeatures, noNX)

        // A new VM takes the snapshot's CPU; its kernel still runs without NX.
        let kernel = try GuestImage.kernel()
        let fromSnapshot = try KVMGuest(snapshot: snapshot, kernel: kernel)
        XCTAssertEqual(fromSnapshot.configuration.cpu, noNX)
        let cpu = try fromSnapshot.call(ReadCPU())
        XCTAssertEqual(cpu.features & CPUFeature.nx.maskBit, 0, "CPUID as the snapshot's guest had it")
        XCTAssertFalse(cpu.noExecute)
        var other = LiveGuest.Configuration()
        other.cpu = CPUSelection(disabled: [.pdpe1gb, .nx])
        XCTAssertThrowsError(try KVMGuest(snapshot: snapshot, kernel: kernel, configuration: other)) {
            XCTAssertEqual($0 as? SnapshotError, .differentCPU(snapshot: noNX, guest: other.cpu))
        }
        // The same features named in another order are the same CPU.
        other.cpu = CPUSelection(disabled: [.nx])
        XCTAssertNoThrow(try KVMGuest(snapshot: snapshot, kernel: kernel, configuration: other))

        // Into a VM of the default CPU: refused, the guest as it was.
        let defaultGuest = try bootedGuest()
        XCTAssertThrowsError(try defaultGuest.restore(snapshot)) {
            XCTAssertEqual($0 as? SnapshotError, .differentCPU(snapshot: noNX, guest: CPUSelection()))
            XCTAssertEqual("\($0)", "the snapshot's guest ran on -nx (--cpu), this one on the default CPU: its kernel chose its paging "
                                     + "modes from the CPU it booted on")
        }
        XCTAssertTrue(try defaultGuest.call(ReadCPU()).noExecute, "the refused restore left the guest as it was")
        XCTAssertThrowsError(try guest.restore(defaultGuest.snapshot())) {
            XCTAssertEqual($0 as? SnapshotError, .differentCPU(snapshot: CPUSelection(), guest: noNX))
        }

        // Through a file, the features travel.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cpu-\(UUID().uuidString).snapshot").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SnapshotFile.write(snapshot, to: path)
        XCTAssertEqual(try SnapshotFile.read(from: path).cpuFeatures, noNX)
    }

    /// RAM in two ranges, the second above 4 GiB (a 4 GiB hole between):
    /// a snapshot takes both, a restore puts both back (each memory slot's
    /// dirty log), a new VM from it lays RAM out the same, and a file keeps
    /// the layout; a guest of the same size laid out otherwise is refused.
    func testASnapshotOfRAMAroundAHoleGoesOnAsTheOriginal() throws {
        try requireKVM()
        let ram: [Range<UInt64>] = [0..<(16 << 20), 0x1_0000_0000..<0x1_0100_0000]
        let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(ram: ram))
        _ = try guest.boot()
        func ramDiffers(_ live: KVMGuest, _ snapshot: GuestSnapshot) throws -> UInt64? {
            for range in ram {
                for address in stride(from: range.lowerBound, to: range.upperBound, by: 4096) {
                    let same = try live.memory.withBytes(at: address, count: 4096) { a in
                        try snapshot.withMemory(at: address, count: 4096) { b in memcmp(a.baseAddress!, b.baseAddress!, 4096) == 0 }
                    }
                    if !same { return address }
                }
            }
            return nil
        }
        // Something in RAM above 4 GiB for the snapshot to keep.
        let marker: [UInt8] = Array("above the hole".utf8)
        try guest.memory.write(marker, at: 0x1_0000_5000)
        let snapshot = try guest.snapshot()
        XCTAssertEqual(try snapshot.withMemory(at: 0x1_0000_5000, count: marker.count) { Array($0) }, marker)
        XCTAssertEqual(snapshot.ram, ram)
        XCTAssertEqual(snapshot.memorySize, 0x1_0100_0000)
        XCTAssertEqual(snapshot.ramPages, 8192)
        XCTAssertNil(try ramDiffers(guest, snapshot))

        let first = try work(guest)
        XCTAssertNotNil(try ramDiffers(guest, snapshot))
        let copied = try guest.restore(snapshot)
        XCTAssertGreaterThan(copied, 0)
        XCTAssertLessThan(copied, 8192 / 8, "the pages written since, from both slots' logs")
        XCTAssertNil(try ramDiffers(guest, snapshot))
        XCTAssertEqual(try work(guest), first, "it goes on as it did")
        // The kernel writes every free frame, above 4 GiB too: the second slot's log brings those back.
        let exhausted = try guest.call(ExhaustFrames(), timeout: .seconds(60))
        XCTAssertGreaterThan(exhausted.highest, 0x1_0000_0000)
        XCTAssertGreaterThan(try guest.restore(snapshot), Int(exhausted.count))
        XCTAssertNil(try ramDiffers(guest, snapshot))

        let fromSnapshot = try KVMGuest(snapshot: snapshot, kernel: GuestImage.kernel())
        XCTAssertEqual(fromSnapshot.memory.ram, ram)
        XCTAssertEqual(try work(fromSnapshot), first)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(UUID().uuidString).snapshot").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SnapshotFile.write(snapshot, to: path)
        let loaded = try SnapshotFile.read(from: path)
        XCTAssertEqual(loaded.ram, ram)
        XCTAssertEqual(try guest.restore(loaded), 8192, "another snapshot: all of RAM, from both ranges")
        XCTAssertNil(try ramDiffers(guest, loaded))
        XCTAssertEqual(try work(guest), first)
        XCTAssertEqual(try work(KVMGuest(snapshot: loaded, kernel: GuestImage.kernel())), first)

        // 32 MiB in one range: the same RAM, laid out otherwise.
        let plain = try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(memorySize: 32 << 20))
        _ = try plain.boot()
        XCTAssertThrowsError(try plain.restore(snapshot)) {
            XCTAssertEqual($0 as? SnapshotError, .memorySizeMismatch(snapshot: 0x1_0100_0000, guest: 32 << 20))
        }
        let otherLayout: [Range<UInt64>] = [0..<(8 << 20), 0x1_0000_0000 - (8 << 20)..<0x1_0000_0000, 0x1_0000_0000..<0x1_0100_0000]
        let other = try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(ram: otherLayout))
        _ = try other.boot()
        XCTAssertThrowsError(try other.restore(snapshot)) {
            XCTAssertEqual($0 as? SnapshotError, .differentRAM(snapshot: ram, guest: otherLayout))
        }
    }

    /// 64 GiB, around the hole: a snapshot and a restore of another guest's
    /// snapshot (every page put back) read and write only pages that hold
    /// data, so neither the snapshot nor the guest becomes resident.
    func testSnapshotsOfASixtyFourGiBGuestStaySparse() throws {
        let first = try bootedGuest(memorySize: 64 << 30)
        let second = try bootedGuest(memorySize: 64 << 30)
        let snapshot = try first.snapshot()
        XCTAssertEqual(snapshot.ram.count, 2)
        XCTAssertLessThan(snapshot.hostBytes, 64 << 20, "\(snapshot.hostBytes) bytes")
        XCTAssertEqual(try second.restore(snapshot), snapshot.ramPages, "another guest's snapshot: every page")
        let resident = try second.memory.ram.reduce(0) { $0 + (try second.memory.residentBytes(in: $1)) }
        XCTAssertLessThan(resident, 128 << 20, "\(resident) bytes of the second guest resident")
        XCTAssertLessThan(snapshot.hostBytes, 64 << 20)
        XCTAssertEqual(try second.call(Echo([7, 8])).values, [7, 8], "it goes on as the first")
        XCTAssertEqual(try second.call(ReadFrameStatistics()), try first.call(ReadFrameStatistics()))
    }

    func testASnapshotOfAnotherSizeIsRefused() throws {
        let small = try bootedGuest(memorySize: 64 << 20)
        let large = try bootedGuest(memorySize: 128 << 20)
        let snapshot = try small.snapshot()
        XCTAssertThrowsError(try large.restore(snapshot)) {
            XCTAssertEqual($0 as? SnapshotError, .memorySizeMismatch(snapshot: 64 << 20, guest: 128 << 20))
        }
        XCTAssertEqual(try large.call(Echo([5])).values, [5], "the refused restore left the guest as it was")
    }

    func testWhatCannotBeSnapshottedIsRefused() throws {
        let guest = try bootedGuest()
        try guest.shutdown()
        XCTAssertThrowsError(try guest.snapshot()) {
            XCTAssertEqual($0 as? SnapshotError, .guestExited(status: 0))
        }
        let debugged = try bootedGuest()
        try debugged.attachDebugger(port: 0)
        XCTAssertThrowsError(try debugged.snapshot()) { XCTAssertEqual($0 as? SnapshotError, .debuggerAttached) }
        // Snapshots are KVMGuest's, which runs on kvm only: no tcg guest has them to ask.
        XCTAssertThrowsError(try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg))) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .kvmGuestOnAnotherBackend(.tcg))
        }
    }

    /// 1,000 restores, each after a call that writes memory, give back every
    /// descriptor, mapping and page.
    func testAThousandRestoresLeakNothing() throws {
        try skipUnderSanitizer("this test counts the process's mappings and resident memory")
        let guest = try bootedGuest()
        let snapshot = try guest.snapshot()
        for _ in 0..<20 {
            _ = try guest.call(AllocateFrames(count: 4))
            try guest.restore(snapshot)
        }
        let before = ProcessResources.current()
        for cycle in 0..<1000 {
            let frames = try guest.call(AllocateFrames(count: 4))
            XCTAssertEqual(frames.count, 4, "cycle \(cycle)")
            try guest.restore(snapshot)
        }
        let after = ProcessResources.current()
        XCTAssertLessThanOrEqual(after.openDescriptors, before.openDescriptors, "\(before) -> \(after)")
        XCTAssertLessThanOrEqual(after.mappings, before.mappings, "\(before) -> \(after)")
        XCTAssertLessThan(after.residentBytes - before.residentBytes, 4 << 20, "resident memory grew: \(before) -> \(after)")
        XCTAssertNil(try firstDifferingPage(guest, snapshot))
    }
}
