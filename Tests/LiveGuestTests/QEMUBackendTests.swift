import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The tcg backend itself: what QEMU reports reaches the test as the same
/// typed failures KVM's exits do, and QEMU is gone when the guest is.
final class QEMUBackendTests: XCTestCase {
    private func failure(of code: Code32, extra: [ELFBuilder.Segment] = [], timeout: Duration = .seconds(10)) throws -> GuestFailure {
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments += extra
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
        do {
            let status = try guest.runToExit(timeout: timeout)
            throw XCTSkip("unexpected: the guest exited with \(status)")
        } catch let failure as GuestFailure {
            return failure
        }
    }

    func testATripleFaultIsReportedWithQEMUsRegisters() throws {
        try requireQEMU()
        var code = Code32()
        code.loadEmptyIDT()
        let ud2 = 0x100000 + UInt64(code.bytes.count)
        code.tripleFault()
        let caught = try failure(of: code)
        XCTAssertEqual(caught.kind, .tripleFault, caught.description)
        XCTAssertEqual(caught.cpu?.rip, ud2, caught.description)
        XCTAssertEqual(caught.cpu.map { $0.cr0 & 1 }, 1, "protected mode")
    }

    /// The bytes of `frame` written to COM2, as the kernel's serial link does.
    private func link(_ bytes: [UInt8], into code: inout Code32) {
        code.movEDX(UInt32(GuestPort.serialLink))
        for byte in bytes {
            code.movEAX(UInt32(byte))
            code.outDX(size: 1)
        }
    }

    func testAByteThatStartsNoFrameIsNamed() throws {
        try requireQEMU()
        var code = Code32()
        link([0x99], into: &code)
        code.jumpBack(to: code.bytes.count)
        XCTAssertEqual(try failure(of: code).kind, .channel(.badLinkFrame(tag: 0x99)))
    }

    func testARecordOutsideGuestMemoryIsRefusedAsOnKVM() throws {
        try requireQEMU()
        var code = Code32()
        link([LinkFrame.record.rawValue] + le32(0xFFFF_F000), into: &code)
        code.jumpBack(to: code.bytes.count)
        XCTAssertEqual(try failure(of: code).kind, .channel(.outsideGuestMemory(address: 0xFFFF_F000, length: UInt64(recordHeaderSize))))
    }

    /// isa-debug-exit keeps 7 bits of a status; the exit frame carries all 32.
    func testTheExitFrameCarriesTheWholeStatus() throws {
        try requireQEMU()
        for status: UInt32 in [0, 7, 0x8000_0001, 0x1234_5678] {
            var code = Code32()
            link([LinkFrame.exit.rawValue] + le32(status), into: &code)
            code.exit(status)
            let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
            XCTAssertEqual(try guest.runToExit(), status)
        }
        // Without the frame, QEMU's own status keeps the low 7 bits: 0x45,
        // 0xC5 and 0x1_0045 end alike, and none can be taken as the status.
        for status: UInt32 in [0x45, 0xC5, 0x1_0045] {
            var code = Code32()
            code.exit(status)
            let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
            XCTAssertThrowsError(try guest.runToExit()) {
                XCTAssertEqual(($0 as? GuestFailure)?.kind, .statusCutToSevenBits(lowBits: 0x45), "status \(status)")
            }
        }
    }

    func testALoopingGuestEndsAtItsDeadlineWithItsRegisters() throws {
        try requireQEMU()
        var code = Code32()
        code.jumpBack(to: 0)
        let started = ContinuousClock.now
        let caught = try failure(of: code, timeout: .milliseconds(300))
        XCTAssertEqual(caught.kind, .timeout(.milliseconds(300)))
        XCTAssertEqual(caught.cpu?.rip, 0x100000, caught.description)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "the deadline held")
    }

    /// A guest that ran out of time is stopped, not left spinning a core,
    /// and the next run continues it.
    func testAGuestPastItsDeadlineIsPausedUntilTheNextRun() throws {
        try requireQEMU()
        var code = Code32()
        code.jumpBack(to: 0)
        let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
        XCTAssertThrowsError(try guest.runToExit(timeout: .milliseconds(300))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(.milliseconds(300)))
        }
        let before = qemuCPUSeconds()
        Thread.sleep(forTimeInterval: 1)
        XCTAssertLessThan(qemuCPUSeconds() - before, 0.2, "QEMU's vCPU is stopped")
        XCTAssertThrowsError(try guest.runToExit(timeout: .milliseconds(300))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(.milliseconds(300)))
            XCTAssertEqual(($0 as? GuestFailure)?.cpu?.rip, 0x100000)
        }
    }

    /// QEMU killed from outside is its own failure, named, at once: while
    /// the guest runs (a signal is no isa-debug-exit status), and while it
    /// waits for console input with no deadline at all.
    func testQEMUThatDiesIsAFailureNamingHowAtOnce() throws {
        try requireQEMU()
        var loop = Code32()
        loop.jumpBack(to: 0)
        // (SIGTERM, SIGINT and SIGHUP QEMU takes as a shutdown request: QMP says `host-signal`.)
        for (signal, name) in [(SIGKILL, "Killed"), (SIGSEGV, "Segmentation fault"), (SIGTERM, "")] {
            let before = qemuChildren()
            let guest = try LiveGuest(kernel: ELFBuilder.guest(code: loop.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
            let started = qemuChildren().filter { !before.contains($0) }
            XCTAssertEqual(started.count, 1)
            let pid = try XCTUnwrap(started.first.flatMap { pid_t($0) })
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { _ = kill(pid, signal) }
            let clock = ContinuousClock.now
            XCTAssertThrowsError(try guest.runToExit(timeout: .seconds(60))) {
                if signal == SIGTERM {
                    XCTAssertEqual(($0 as? GuestFailure)?.kind, .qemuShutdown(reason: "host-signal"))
                    return
                }
                XCTAssertEqual(($0 as? GuestFailure)?.kind, .backendEnded(.killed(signal: signal), message: ""), "signal \(signal)")
                XCTAssertEqual(($0 as? GuestFailure)?.summary,
                               "QEMU was killed by signal \(signal) (\(name)) while the guest ran, with no exit from the guest")
            }
            XCTAssertLessThan(ContinuousClock.now - clock, .seconds(5), "at once, not at the deadline")
        }
        // Waiting for input that never comes, with no deadline.
        let before = qemuChildren()
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg))
        let pid = try XCTUnwrap(qemuChildren().first { !before.contains($0) }.flatMap { pid_t($0) })
        _ = try guest.boot()
        /// A terminal nobody types at.
        final class NoInput: ConsoleInput, @unchecked Sendable {
            func waitForInput(until deadline: Deadline) -> ConsoleInputEvent {
                while !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
                return .timedOut
            }
            func wake() {}
        }
        guest.consoleInput = NoInput()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { _ = kill(pid, SIGKILL) }
        let clock = ContinuousClock.now
        XCTAssertThrowsError(try guest.runToExit(calls: [RunMonitor()], timeout: Deadline.never.timeout)) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .backendEnded(.killed(signal: SIGKILL), message: ""))
        }
        XCTAssertLessThan(ContinuousClock.now - clock, .seconds(5), "at once, with no deadline")
    }

    /// A guest halted with interrupts off is `.halted` on tcg as on kvm,
    /// at once rather than at its deadline (QEMU does not say; the host asks
    /// for its registers once the guest has been quiet half a second).
    func testAGuestHaltedForGoodIsHaltedAsOnKVM() throws {
        try requireQEMU()
        var code = Code32()
        code.raw(0xFA, 0xF4)  // cli; hlt
        let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
        let clock = ContinuousClock.now
        XCTAssertThrowsError(try guest.runToExit(timeout: .seconds(30))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .halted)
        }
        XCTAssertLessThan(ContinuousClock.now - clock, .seconds(5))
        // A busy guest is never taken for a halted one: testALoopingGuestEndsAtItsDeadlineWithItsRegisters.
    }

    /// This process's QEMU children, by pid.
    private func qemuChildren() -> [String] {
        let parent = String(getpid())
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return stat.contains("(qemu-system-x86") && fields.count > 1 && fields[1] == parent
        }
    }

    /// CPU seconds used so far by this process's QEMU children.
    private func qemuCPUSeconds() -> Double {
        let parent = String(getpid())
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), stat.contains("(qemu-system-x86") else { continue }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            guard fields.count > 13, fields[1] == parent else { continue }
            total += (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
        }
        return total
    }

    func testAStopFromAnotherThreadEndsTheRun() throws {
        try requireQEMU()
        var code = Code32()
        code.jumpBack(to: 0)
        let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(), configuration: .init(backend: .tcg, memorySize: 16 << 20))
        let handle = guest.stopHandle
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { handle.requestStop() }
        let started = ContinuousClock.now
        XCTAssertThrowsError(try guest.runToExit(timeout: .seconds(30))) { error in
            XCTAssertEqual((error as? GuestFailure)?.kind, .stoppedByUser)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }

    /// QEMU, its sockets and the memory file last exactly as long as the guest.
    /// (Only this process's QEMU children are looked at: parallel tests run
    /// guests of their own.)
    func testNothingOfQEMUOutlivesTheGuest() throws {
        try requireQEMU()
        /// The private directory a QEMU child was given: its memory file's.
        func directory(of pid: String) throws -> String {
            let commandLine = try XCTUnwrap(FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"))
            let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let backend = try XCTUnwrap(arguments.first { $0.hasPrefix("memory-backend-file,") })
            let memoryPath = try XCTUnwrap(backend.split(separator: ",").first { $0.hasPrefix("mem-path=") }).dropFirst("mem-path=".count)
            return (String(memoryPath) as NSString).deletingLastPathComponent
        }
        let before = qemuChildren()
        do {
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg))
            _ = try guest.boot()
            let started = qemuChildren().filter { !before.contains($0) }
            XCTAssertEqual(started.count, 1)
            let privateDirectory = try directory(of: try XCTUnwrap(started.first))
            XCTAssertTrue(privateDirectory.hasPrefix("/tmp/kvmhost-qemu-"), privateDirectory)
            XCTAssertFalse(FileManager.default.fileExists(atPath: privateDirectory), "the memory file and sockets are unlinked once QEMU has them")
            XCTAssertEqual(try guest.call(Echo([1, 2, 3])).values, [1, 2, 3])
        }
        XCTAssertEqual(qemuChildren(), before, "QEMU ended with the guest")
    }

    func testAConfigurationQEMUCannotTakeIsRefused() throws {
        XCTAssertThrowsError(try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg, memoryHoles: [0x800000..<0xA00000]))) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .memoryHolesNeedKVM)
        }
        XCTAssertThrowsError(try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg, memorySize: (64 << 20) + 4096))) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .memorySizeNotWholeMiB(bytes: (64 << 20) + 4096))
        }
        // Snapshots, the gdb stub and port traces are KVMGuest's: it runs on kvm only.
        XCTAssertThrowsError(try KVMGuest(kernel: GuestImage.kernel(), configuration: .init(backend: .tcg))) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .kvmGuestOnAnotherBackend(.tcg))
        }
    }
}
