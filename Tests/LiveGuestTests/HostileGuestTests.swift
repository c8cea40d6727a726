import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Tiny guests of a few bytes of 32-bit code, each doing one thing a guest
/// must not be able to get away with. The host answers each with a typed
/// failure: never a crash, never a hang.
final class HostileGuestTests: XCTestCase {
    // mov dx, 0x1000 (the report port)
    let reportPort: [UInt8] = [0x66, 0xBA, 0x00, 0x10]

    private func run(_ code: [UInt8], extra: [ELFBuilder.Segment] = [], memory: Int = 16 << 20,
                     timeout: Duration = .seconds(5)) throws -> Result<UInt32, GuestFailure> {
        try requireKVM()
        var builder = ELFBuilder.guest(code: code)
        builder.segments += extra
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(memorySize: memory))
        do {
            return .success(try guest.runToExit(timeout: timeout))
        } catch let failure as GuestFailure {
            return .failure(failure)
        }
    }

    private func failureKind(_ result: Result<UInt32, GuestFailure>, file: StaticString = #filePath, line: UInt = #line) -> GuestFailure.Kind? {
        switch result {
        case .success(let status):
            XCTFail("the guest exited with \(status) instead of failing", file: file, line: line)
            return nil
        case .failure(let failure):
            return failure.kind
        }
    }

    func testExitPortStatus() throws {
        // mov eax, 42; out 0xF4, eax
        XCTAssertEqual(try run([0xB8, 42, 0, 0, 0, 0xE7, 0xF4]).get(), 42)
    }

    func testUnknownPortIsNamed() throws {
        let result = try run([0xB0, 0x55, 0xE6, 0x80])  // mov al, 0x55; out 0x80, al
        XCTAssertEqual(failureKind(result), .unexpectedPort(port: 0x80, direction: .output, size: 1))
        if case .failure(let failure) = result { XCTAssertTrue(failure.description.contains("port 0x80")) }
        XCTAssertEqual(failureKind(try run([0xE4, 0x60])), .unexpectedPort(port: 0x60, direction: .input, size: 1))
    }

    func testTripleFaultIsReportedWithRegisters() throws {
        // ud2 with no IDT: #UD cannot be delivered, then #DF cannot, then shutdown.
        let result = try run([0x0F, 0x0B])
        XCTAssertEqual(failureKind(result), .tripleFault)
        if case .failure(let failure) = result {
            XCTAssertEqual(failure.cpu?.rip, 0x100000)
            XCTAssertEqual(failure.cpu.map { $0.cr0 & 1 }, 1)
        }
    }

    func testChannelAddressOutsideMemory() throws {
        // mov eax, 0xFFFFF000; mov dx, 0x1000; out dx, eax
        let result = try run([0xB8, 0x00, 0xF0, 0xFF, 0xFF] + reportPort + [0xEF])
        XCTAssertEqual(failureKind(result), .channel(.outsideGuestMemory(address: 0xFFFF_F000, length: 16)))
    }

    func testRecordThatRunsPastTheEndOfMemory() throws {
        // A valid header in the last 16 bytes of memory, claiming 100 bytes of text.
        let memory = 16 << 20
        let headerAddress = UInt64(memory - 16)
        let header = le32(recordMagic) + le16(RecordKind.panic.rawValue) + le16(0) + le32(100) + le32(1)
        let code: [UInt8] = [0xB8] + le32(UInt32(headerAddress)) + reportPort + [0xEF]
        let result = try run(code, extra: [.init(physicalAddress: headerAddress, bytes: header)], memory: memory)
        XCTAssertEqual(failureKind(result), .channel(.outsideGuestMemory(address: headerAddress, length: 116)))
    }

    func testGarbageOnTheChannel() throws {
        // Points the channel at its own code: no record magic there.
        let code: [UInt8] = [0xB8, 0x00, 0x00, 0x10, 0x00] + reportPort + [0xEF]
        let magic = UInt32(0xB8) | UInt32(0x00) << 8 | UInt32(0x00) << 16 | UInt32(0x10) << 24
        XCTAssertEqual(failureKind(try run(code)), .channel(.malformed(address: 0x100000, problem: .badMagic(magic))))
        // A one-byte write where the channel takes a 4-byte address.
        XCTAssertEqual(failureKind(try run([0xB0, 0x01] + reportPort + [0xEE])), .channel(.badAccessSize(1)))
    }

    func testUnknownRecordKind() throws {
        let record = le32(recordMagic) + le16(999) + le16(0) + le32(0) + le32(1)
        let code: [UInt8] = [0xB8] + le32(0x200000) + reportPort + [0xEF]
        let result = try run(code, extra: [.init(physicalAddress: 0x200000, bytes: record)])
        XCTAssertEqual(failureKind(result), .channel(.undecodable(kind: 999, reason: "unknown kind")))
    }

    func testMMIOOutsideMemoryIsNamed() throws {
        // mov [0xFE000000], eax
        let result = try run([0xA3, 0x00, 0x00, 0x00, 0xFE])
        XCTAssertEqual(failureKind(result), .mmio(MMIOAccess(address: 0xFE00_0000, length: 4, isWrite: true)))
    }

    func testHaltWithInterruptsOff() throws {
        XCTAssertEqual(failureKind(try run([0xFA, 0xF4])), .halted)  // cli; hlt
    }

    func testEndlessLoopEndsAtTheDeadline() throws {
        let started = ContinuousClock.now
        XCTAssertEqual(failureKind(try run([0xEB, 0xFE], timeout: .milliseconds(200))), .timeout(.milliseconds(200)))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }
}
