import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The kernel monitor on the serial console, fed a script of lines.
final class MonitorTests: XCTestCase {
    private func runMonitor(_ lines: [String]) throws -> (LiveGuest, String) {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        guest.consoleInput = ScriptedConsoleInput(lines: lines)
        let before = guest.serial.text.count
        let reply = try guest.execute(.monitor, timeout: .seconds(60))
        XCTAssertEqual(reply.status, ReplyStatus.ok)
        return (guest, String(guest.serial.text.dropFirst(before)))
    }

    func testCommandsAnswerAndBadInputGetsOneLineErrors() throws {
        let (guest, screen) = try runMonitor([
            "help", "mem", "bogus", "free zz", "map 0x40000000 wq",
            "map 0x40000000 w", "translate 0x40000000", "walk 0x40000000", "map 0x40000000",
            "unmap 0x40000000", "translate 0x40000000", "reserve 3 eager", "spaces", "alloc 2", "quit",
        ])
        XCTAssertTrue(screen.contains("walk VIRTUAL"), screen)
        XCTAssertTrue(screen.contains("frames: total 16384, free "), screen)
        XCTAssertTrue(screen.contains("kernel image"), screen)
        XCTAssertTrue(screen.contains("error: unknown command 'bogus' (try help)\n"), screen)
        XCTAssertTrue(screen.contains("error: not a number or address: zz\n"), screen)
        XCTAssertTrue(screen.contains("error: flags are letters w, u and x\n"), screen)
        XCTAssertTrue(screen.contains("mapped 0x0000000040000000 -> 0x"), screen)
        XCTAssertTrue(screen.contains("rw- supervisor 4K"), screen)
        XCTAssertTrue(screen.contains("PML4[0] = 0x"), screen)
        XCTAssertTrue(screen.contains("PT[0] = 0x"), screen)
        XCTAssertTrue(screen.contains("error: already mapped to 0x"), screen)
        XCTAssertTrue(screen.contains("unmapped 0x0000000040000000\n"), screen)
        XCTAssertTrue(screen.contains("0x0000000040000000 is not mapped\n"), screen)
        XCTAssertTrue(screen.contains("reserved 0x0000010000000000\n"), screen)
        XCTAssertTrue(screen.contains("  0x0000010000000000 3 pages eager\n"), screen)
        XCTAssertEqual(screen.components(separatedBy: "frame 0x").count - 1, 2, screen)
        // The monitor handed control back: the channel still works.
        XCTAssertEqual(try guest.execute(.echo([4])).values, [4])
    }

    func testProgramsRunFromTheMonitor() throws {
        let (_, screen) = try runMonitor(["programs", "run hello", "run wild-touch", "run lazy-touch", "faults", "run nothing"])
        XCTAssertTrue(screen.contains("  first-byte\n"), screen)
        XCTAssertTrue(screen.contains("hello from a user program at 0x0\nhello exited with status 7, 0 demand faults\n"), screen)
        XCTAssertTrue(screen.contains("wild-touch faulted: not allocated at 0x0000000050000000, rip 0x000000000000000a"), screen)
        XCTAssertTrue(screen.contains("lazy-touch exited with status 0, 10 demand faults\n"), screen)
        XCTAssertTrue(screen.contains(" -> reallocated\n"), screen)
        XCTAssertTrue(screen.contains("error: no program named nothing (try programs)\n"), screen)
    }

    func testEndOfInputLeavesTheMonitor() throws {
        let (guest, screen) = try runMonitor(["mem"])
        XCTAssertTrue(screen.hasSuffix("monitor> \n"), screen)
        XCTAssertEqual(try guest.shutdown(), 0)
    }

    func testDeliberateKernelFaultIsAPanicReportWithCR2() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        guest.consoleInput = ScriptedConsoleInput(lines: ["fault"])
        do {
            _ = try guest.execute(.monitor, timeout: .seconds(30))
            XCTFail("the fault should end the run")
        } catch let failure as GuestFailure {
            guard case .exception(let report) = failure.kind else { return XCTFail("\(failure)") }
            XCTAssertEqual(report.vector, 14)
            XCTAssertEqual(report.cr2, 0)
            XCTAssertEqual(failure.walk?.outcome, .notPresent(level: 4))
        }
    }
}
