import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The kernel monitor on the serial console, fed a script of lines.
final class MonitorTests: XCTestCase {
    /// Boots a guest, takes `allocating` frames through the channel first
    /// (the same ones a probe guest took), and runs the monitor on `lines`.
    private func runMonitor(_ lines: [String], allocating: UInt64 = 0) throws -> (LiveGuest, String) {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        if allocating > 0 { _ = try guest.call(AllocateFrames(count: allocating)) }
        guest.consoleInput = ScriptedConsoleInput(lines: lines)
        let before = guest.serial.text.count
        XCTAssertEqual(try guest.call(RunMonitor(), timeout: .seconds(60)), Done())
        return (guest, String(guest.serial.text.dropFirst(before)))
    }

    /// The whole transcript, in order. Physical addresses depend on the
    /// kernel's size, so each distinct one is named P1, P2, ... in order of
    /// first appearance: the same frame must appear wherever it is expected.
    func testCommandsAnswerAndBadInputGetsOneLineErrors() throws {
        let (guest, screen) = try runMonitor([
            "bogus", "free zz", "map 0x40000000 wq",
            "map 0x40000000 w", "translate 0x40000000", "walk 0x40000000", "map 0x40000000",
            "unmap 0x40000000", "translate 0x40000000", "reserve 3 eager", "spaces", "alloc 2",
            // A frame the monitor did not take stays allocated when its page is unmapped.
            "alloc", "map 0x50000000", "quit",
        ])
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex(of: "monitor> bogus"))
        XCTAssertEqual(named(lines[start...].joined(separator: "\n")), """
            monitor> bogus
            error: unknown command 'bogus' (try help)
            monitor> free zz
            error: not a number or address: zz
            monitor> map 0x40000000 wq
            error: flags are letters w, u and x
            monitor> map 0x40000000 w
            mapped 0x0000000040000000 -> P1
            monitor> translate 0x40000000
            0x0000000040000000 -> P1 rw- supervisor 4K
            monitor> walk 0x40000000
            PML4[0] = P2 -> P3 rwx supervisor
            PDPT[1] = P4 -> P5 rwx supervisor
            PD[0] = P6 -> P7 rwx supervisor
            PT[0] = P8 -> P1 rw- supervisor
            monitor> map 0x40000000
            error: already mapped: 0x0000000040000000 -> P1
            monitor> unmap 0x40000000
            unmapped 0x0000000040000000, frame P1 freed
            monitor> translate 0x40000000
            0x0000000040000000 is not mapped
            monitor> reserve 3 eager
            reserved 0x0000010000000000
            monitor> spaces
            test space 0x0000010000000000-0x0000018000000000, mark 0x0000010000003000, 1 reservations
              0x0000010000000000 3 pages eager
            monitor> alloc 2
            frame P9
            frame P10
            monitor> alloc
            frame P11
            monitor> map 0x50000000
            mapped 0x0000000050000000 -> P12
            monitor> quit

            """)
        // The monitor handed control back: the channel still works.
        XCTAssertEqual(try guest.call(Echo([4])).values, [4])
    }

    /// `map VA PA` then `unmap VA` keeps the frame (the monitor did not take
    /// it), so it can be freed once; the kernel's own pages and frames that
    /// are not RAM are refused with a message, and the kernel goes on.
    func testTheMonitorCannotBreakTheKernel() throws {
        try requireKVM()
        let probe = try LiveGuest(kernel: GuestImage.kernel())
        let ready = try probe.boot()
        let frame = try XCTUnwrap(probe.call(AllocateFrames(count: 1)).first)
        let text = ready.kernelVirtualBase + ready.kernelPhysicalStart
        let (guest, screen) = try runMonitor([
            "map 0x50000000 \(hex16(frame)) w", "unmap 0x50000000", "unmap 0x50000000",
            "unmap \(hex16(text))", "map 0x60000000 0xffffffffffffffff", "map 0x60000000 0x1001",
            "free \(hex16(ready.kernelPhysicalStart))", "quit",
        ], allocating: 1)
        let start = try XCTUnwrap(screen.range(of: "monitor> map 0x50000000"))
        XCTAssertEqual(String(screen[start.lowerBound...]), """
            monitor> map 0x50000000 \(hex16(frame)) w
            mapped 0x0000000050000000 -> \(hex16(frame))
            monitor> unmap 0x50000000
            unmapped 0x0000000050000000, frame kept \(hex16(frame))
            monitor> unmap 0x50000000
            error: not mapped: 0x0000000050000000
            monitor> unmap \(hex16(text))
            error: the kernel's own region, which would break the kernel: \(hex16(text))
            monitor> map 0x60000000 0xffffffffffffffff
            error: not the start of a frame: 0xffffffffffffffff
            monitor> map 0x60000000 0x1001
            error: not the start of a frame: 0x0000000000001001
            monitor> free \(hex16(ready.kernelPhysicalStart))
            error: the frame is reserved (kernel, boot data or not RAM): \(hex16(ready.kernelPhysicalStart))
            monitor> quit

            """)
        XCTAssertEqual(try guest.call(QueryFrame(address: frame)).isFree, false, "the frame stayed allocated")
        XCTAssertEqual(try guest.call(FreeFrame(address: frame)), Done())
    }

    private func named(_ text: String) -> String {
        var names: [String: String] = [:]
        var result = ""
        var rest = Substring(text)
        while let match = rest.range(of: #"0x0000000000[0-9a-f]{6}|0x8000000000[0-9a-f]{6}"#, options: .regularExpression) {
            result += rest[..<match.lowerBound]
            let address = String(rest[match])
            if names[address] == nil { names[address] = "P\(names.count + 1)" }
            result += names[address]!
            rest = rest[match.upperBound...]
        }
        return result + rest
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
            _ = try guest.call(RunMonitor(), timeout: .seconds(30))
            XCTFail("the fault should end the run")
        } catch let failure as GuestFailure {
            guard case .exception(let report) = failure.kind else { return XCTFail("\(failure)") }
            XCTAssertEqual(report.vector, 14)
            XCTAssertEqual(report.cr2, 0)
            XCTAssertEqual(failure.walk?.outcome, .notPresent(level: 4))
        }
    }
}

/// An address as the monitor prints it: 0x and 16 hex digits.
private func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}
