import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Every way the real guest can fail reaches the test as a GuestFailure that
/// says what happened, with registers and console lines.
final class GuestFailureTests: GuestBehaviourTestCase {
    private func bootedGuest() throws -> (LiveGuest, ReadyRecord) {
        let guest = try liveGuest(kernel: GuestImage.kernel())
        return (guest, try guest.boot())
    }

    private func failure(of body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> GuestFailure? {
        do {
            try body()
            XCTFail("expected a guest failure", file: file, line: line)
            return nil
        } catch let failure as GuestFailure {
            return failure
        } catch {
            XCTFail("expected a guest failure, got \(error)", file: file, line: line)
            return nil
        }
    }

    // Not vector 3: on this project's nested KVM a ring-0 int3 ends in
    // KVM_EXIT_INTERNAL_ERROR (emulation failure) instead of reaching the IDT.
    func testKernelExceptionsNameVectorAndRIP() throws {
        try onEachBackend { _ in
            let exceptions: [(UInt64, RaiseException.Exception)] = [
                (0, .divideError), (6, .invalidOpcode), (13, .generalProtection), (14, .pageFault(address: 0)),
            ]
            for (vector, exception) in exceptions {
                let (guest, ready) = try bootedGuest()
                let textStart = ready.kernelVirtualBase + ready.kernelPhysicalStart
                let textEnd = ready.kernelVirtualBase + ready.kernelPhysicalEnd
                let caught = failure { _ = try guest.call(RaiseException(exception)) }
                guard case .exception(let report)? = caught?.kind else {
                    XCTFail("vector \(vector): \(String(describing: caught))")
                    continue
                }
                XCTAssertEqual(report.vector, vector)
                XCTAssertTrue((textStart..<textEnd).contains(report.rip), "RIP \(report.rip) lies in the kernel image")
                XCTAssertEqual(report.cs, 0x08)
                XCTAssertEqual(report.ss, 0x10, "the kernel data selector, as Assembly/pvh-entry.S loads it")
                XCTAssertTrue(caught!.description.contains("vector \(vector)"), caught!.description)
                XCTAssertTrue(caught!.description.contains("RIP 0x\(String(report.rip, radix: 16))"))
                XCTAssertEqual(guest.exitStatus, nil, "the failure is reported before the guest's own exit")
                XCTAssertNotNil(caught?.cpu)
                XCTAssertTrue(caught!.consoleTail.last!.hasPrefix("kernel: exception \(vector) at rip"), "\(caught!.consoleTail)")
            }
        }
    }

    func testPageFaultReportsTheFaultingAddressAndErrorCode() throws {
        try onEachBackend { _ in
            for address: UInt64 in [0x0, 0x4000_0000, 0x0000_7F00_0000_0000] {
                let (guest, _) = try bootedGuest()
                let caught = failure { _ = try guest.call(RaiseException(.pageFault(address: address))) }
                guard case .exception(let report)? = caught?.kind else { return XCTFail("\(String(describing: caught))") }
                XCTAssertEqual(report.vector, 14)
                XCTAssertEqual(report.cr2, address)
                XCTAssertEqual(report.errorCode, 0, "a supervisor read of a page that is not present")
                XCTAssertEqual(report.cr0 & 0x8001_0001, 0x8001_0001, "PG, WP and PE on")
                XCTAssertEqual(report.efer & 0xD00, 0xD00, "LME, LMA and NXE on")
            }
        }
    }

    func testGuestAssertCarriesConditionFileLineAndValues() throws {
        try onEachBackend { _ in
            let (guest, _) = try bootedGuest()
            let caught = failure { _ = try guest.call(AssertEqual(3, 4)) }
            guard case .assertion(let report)? = caught?.kind else { return XCTFail("\(String(describing: caught))") }
            XCTAssertEqual(report.condition, "first == second")
            XCTAssertEqual(report.file, "GuestKernel/KernelCallHandlers.swift")
            // The line of the assertion in the handler's source, found in the source itself.
            let source = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Sources/Guest/Kernel/Calls/KernelCallHandlers.swift"), encoding: .utf8)
            let line = try XCTUnwrap(source.split(separator: "\n", omittingEmptySubsequences: false)
                .firstIndex { $0.contains("guestAssert(first == second") })
            XCTAssertEqual(report.line, UInt64(line + 1))
            XCTAssertEqual(report.values, [3, 4])
        }
    }

    func testLoopingGuestEndsAtItsDeadline() throws {
        try onEachBackend { _ in
            let (guest, _) = try bootedGuest()
            let started = ContinuousClock.now
            let caught = failure { _ = try guest.call(Spin(), timeout: .milliseconds(300)) }
            let elapsed = ContinuousClock.now - started
            XCTAssertEqual(caught?.kind, .timeout(.milliseconds(300)))
            XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(300))
            XCTAssertLessThan(elapsed, .seconds(3), "the watchdog takes the vCPU out promptly")
            let rip = try XCTUnwrap(caught?.cpu?.rip)
            XCTAssertGreaterThan(rip, 0x0000_7FFF_8000_0000, "stopped inside the kernel's spin loop")
        }
    }

    /// An exception report carries the faulting context's registers, from
    /// the trap frame; the vCPU's own (the trap handler's, when the report
    /// came) are labelled as such.
    func testExceptionReportsTheFaultingContextNotTheHandler() throws {
        try onEachBackend { _ in
            for address: UInt64 in [0x4000_0000, 0x0000_7F00_0000_0000] {
                let (guest, _) = try bootedGuest()
                let caught = failure { _ = try guest.call(RaiseException(.pageFault(address: address))) }
                guard let caught, case .exception(let report) = caught.kind, let cpu = caught.cpu else { return XCTFail("\(String(describing: caught))") }
                XCTAssertEqual(report.registers.values.count, 15)
                XCTAssertTrue(report.registers.values.contains(address), "the faulting load's address register: \(report.registers.values.map { String($0, radix: 16) })")
                XCTAssertNotEqual(report.rsp, cpu.rsp, "the faulting RSP, not the handler's IST stack")
                XCTAssertNotEqual(report.rip, cpu.rip, "the faulting RIP, not the handler's")
                let text = caught.description
                let context = try XCTUnwrap(text.range(of: "faulting context (trap frame):\nRIP=0x\(String(report.rip, radix: 16)) RSP=0x\(String(report.rsp, radix: 16))"))
                let handler = try XCTUnwrap(text.range(of: "vCPU when the report arrived (the kernel's trap handler):\nRIP=0x\(String(cpu.rip, radix: 16))"))
                XCTAssertLessThan(context.lowerBound, handler.lowerBound, "the faulting context first")
                XCTAssertTrue(text.contains("RAX=0x\(String(report.registers.rax, radix: 16)) RBX="), text)
                XCTAssertTrue(text.contains("R15=0x\(String(report.registers.r15, radix: 16))\n"), text)
            }
        }
    }

    /// Exit status 6 is the kernel's word that the CPU lacks a feature: the
    /// failure carries the line that names it, as the entry wrote it on COM1.
    func testAMissingCPUFeatureIsNamedByTheKernelsLine() throws {
        try onEachBackend { backend in
            let line = "guest kernel: the CPU has no PAE (CPUID 1 EDX bit 6 pae); long mode needs it"
            let text = Array("some earlier output\n\(line)\n".utf8)
            var code = Code32()
            code.movESI(0x200000)
            code.movECX(UInt32(text.count))
            code.movEDX(UInt32(GuestPort.serial))
            code.repOutsb()
            // As the kernel's entry does: under QEMU the whole status first, in an exit frame.
            if backend == .tcg { code.sendExitFrame(ExitStatus.missingCPUFeature) }
            code.exit(ExitStatus.missingCPUFeature)
            var builder = ELFBuilder.guest(code: code.bytes)
            builder.segments.append(.init(physicalAddress: 0x200000, bytes: text))
            let guest = try LiveGuest(kernel: builder.build(), configuration: .init(backend: backend, memorySize: 8 << 20))
            let caught = failure { _ = try guest.boot() }
            XCTAssertEqual(caught?.kind, .missingCPUFeature(line))
            XCTAssertEqual(caught?.summary, "the CPU lacks a feature the kernel needs: " + line)
        }
    }

    /// A ready report that says the kernel dropped part of its memory map
    /// fails the boot: the kernel would run with memory missing.
    func testABootThatDroppedMemoryRangesFails() throws {
        try requireKVM()
        let address: UInt32 = 0x200000
        var code = Code32()
        code.sendRecord(at: address)
        code.exit(0)
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments.append(.init(physicalAddress: UInt64(address), bytes: HostileRecords.ready(droppedMemoryRanges: 3)))
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(memorySize: 8 << 20))
        let caught = failure { _ = try guest.boot() }
        XCTAssertEqual(caught?.kind, .memoryMapNotTaken(droppedRanges: 3))
        // The real kernel with the longest map the host lets through (64
        // usable ranges, more than the kernel once kept) drops none.
        let holes = (0..<((PhysicalMemoryMap.maximumEntries - 4) / 2)).map { index -> Range<UInt64> in
            let start = 0x1000000 + UInt64(index) * 0x10000
            return start..<(start + 0x1000)
        }
        let full = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(memoryHoles: holes))
        let ready = try full.boot()
        XCTAssertEqual(ready.droppedMemoryRanges, 0)
        XCTAssertEqual(ready.memoryMap.count, PhysicalMemoryMap.maximumEntries)
        XCTAssertEqual(try full.call(ReadFrameStatistics()).usable, full.memoryMap.usableFrames())
        XCTAssertEqual(try full.shutdown(), 0)
    }
}

/// The statuses the kernel ends with when it fails never pass as a guest's
/// own: a kernel sent to RIP 0 (as a debugger or a bad snapshot can) fails
/// by name, with the kernel's reason.
final class KernelStatusVerdictTests: XCTestCase {
    func testAKernelSentToAddressZeroIsAFailureNotAStatus() throws {
        try requireKVM()
        for rip: UInt64 in [0, 0x8000_0000_0000_0000] {
            let guest = try KVMGuest(kernel: GuestImage.kernel())
            _ = try guest.boot()
            var registers = try guest.vcpu.registers()
            registers.rip = rip
            try guest.vcpu.setRegisters(registers)
            // The call's record is sent from inside the report being built
            // when the vCPU went astray: the kernel's panic path cannot send
            // another record, so it exits 4 with its reason on the console.
            XCTAssertThrowsError(try guest.call(Echo([1]))) { error in
                XCTAssertEqual((error as? GuestFailure)?.kind,
                               .kernelExited(.panic, lastConsoleLine: "kernel bug: a report sent while another was being built"), "rip \(rip)")
                XCTAssertEqual((error as? GuestFailure)?.summary, "the kernel panicked (exit status 4, with no report): "
                               + "kernel bug: a report sent while another was being built", "rip \(rip)")
            }
        }
    }
}
