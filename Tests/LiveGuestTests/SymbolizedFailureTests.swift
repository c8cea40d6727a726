import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// A failing guest names where it failed: function, .swift file and line,
/// and the calls that led there, by the RBP chain.
final class SymbolizedFailureTests: XCTestCase {
    private func failure(_ kernel: [UInt8]? = nil, _ body: (LiveGuest) throws -> Void) throws -> GuestFailure {
        try requireKVM()
        let guest = try LiveGuest(kernel: kernel ?? GuestImage.kernel())
        _ = try guest.boot()
        do {
            try body(guest)
        } catch let failure as GuestFailure {
            return failure
        }
        throw XCTSkip("unreachable: the guest did not fail")
    }

    func testAKernelExceptionNamesTheFaultingFunctionAndItsCallers() throws {
        let caught = try failure { _ = try $0.execute(.raiseException(vector: 14, address: 0x4000_0000)) }
        let (frames, problem) = try XCTUnwrap(caught.symbolizedBacktrace())
        XCTAssertNil(problem)
        XCTAssertGreaterThanOrEqual(frames.count, 4, "\(frames)")
        guard case .exception(let report) = caught.kind else { return XCTFail("\(caught.kind)") }
        XCTAssertEqual(frames[0].address, report.rip, "the trap frame's RIP, not the handler's")
        XCTAssertEqual(frames[0].function, "static GuestKernel.CommandLoop.execute(GuestKernel.RecordView) -> ()")
        XCTAssertTrue(frames[0].line?.contains("Sources/Guest/Kernel/CommandLoop.swift:") == true, "\(frames[0])")
        XCTAssertEqual(frames[1].function, "static GuestKernel.CommandLoop.run() -> Swift.Never")
        XCTAssertTrue(frames[1].line?.contains("Sources/Guest/Kernel/CommandLoop.swift:") == true, "\(frames[1])")
        XCTAssertTrue(frames.contains { $0.function == "GuestKernel.kmain(Swift.UInt) -> ()" }, "\(frames)")
        XCTAssertEqual(caught.backtrace?.end, .outermostFrame)
        XCTAssertTrue(caught.description.contains("\nat 0x\(String(report.rip, radix: 16)) in static GuestKernel.CommandLoop.execute"), caught.description)
        XCTAssertTrue(caught.description.contains("backtrace (RBP chain, \(frames.count) frames, ended at the outermost frame):\n  #0 0x"), caught.description)
    }

    func testAPanicNamesTheFrameThatCalledThePanicFunction() throws {
        var frame: UInt64 = 0
        let caught = try failure { guest in
            frame = try XCTUnwrap(guest.execute(.allocateFrames(count: 1)).values.first)
            _ = try guest.execute(.freeFrame(address: frame))
            _ = try guest.execute(.freeFrame(address: frame))
        }
        XCTAssertEqual(caught.kind, .panic(PanicReport(reason: "frame free: double free", value: frame)))
        let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
        let panicking = try XCTUnwrap(frames.lastIndex { $0.function?.hasPrefix("GuestKernel.kernelPanic(") == true })
        let caller = frames[panicking + 1]
        // PhysicalMemory.free is inlined into the command's handler.
        XCTAssertEqual(caller.function, "static GuestKernel.CommandLoop.execute(GuestKernel.RecordView) -> ()")
        XCTAssertTrue(caller.line?.contains("Sources/Guest/Kernel/CommandLoop.swift:") == true, "\(caller)")
        XCTAssertTrue(caught.description.contains("GuestKernel.kernelPanic was called from #\(panicking + 1) \(caller)"), caught.description)
    }

    func testAnAssertionNamesItsCaller() throws {
        let caught = try failure { _ = try $0.execute(.assertEqual(1, 2)) }
        let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
        let asserting = try XCTUnwrap(frames.lastIndex { $0.function?.contains("guestAssert") == true }, "\(frames)")
        XCTAssertTrue(frames[asserting + 1].line?.contains("Sources/Guest/Kernel/CommandLoop.swift:") == true, "\(frames[asserting + 1])")
        XCTAssertTrue(caught.description.contains("guestAssert"), caught.description)
    }

    func testATimeoutShowsWhereTheGuestWas() throws {
        let caught = try failure { _ = try $0.execute(.spin, timeout: .milliseconds(200)) }
        XCTAssertEqual(caught.kind, .timeout(.milliseconds(200)))
        let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
        XCTAssertGreaterThanOrEqual(frames.count, 2)
        XCTAssertTrue(frames.contains { $0.function?.contains("CommandLoop") == true }, "\(frames)")
    }

    /// Without DWARF lines, function + offset still name the frames, and the
    /// report says why there is no file:line.
    func testWithoutLinesFunctionsRemain() throws {
        var kernel = try GuestImage.kernel()
        let name = Array(".debug_line\0".utf8)
        for index in 0...(kernel.count - name.count) where Array(kernel[index..<index + name.count]) == name {
            kernel[index + 10] = UInt8(ascii: "X")  // the section is now ".debug_linX"
        }
        let caught = try failure(kernel) { _ = try $0.execute(.raiseException(vector: 14, address: 0x4000_0000)) }
        let (frames, problem) = try XCTUnwrap(caught.symbolizedBacktrace())
        XCTAssertEqual(problem, .noDebugInformation)
        XCTAssertEqual(frames[0].function, "static GuestKernel.CommandLoop.execute(GuestKernel.RecordView) -> ()")
        XCTAssertNil(frames[0].line)
        XCTAssertTrue(caught.description.contains("(no file:line: the kernel image has no DWARF line table; functions from the symbol table)"),
                      caught.description)
    }

    func testTheKernelsSymbolTable() throws {
        let table = ELFSymbolTable(elf: try GuestImage.kernel())
        XCTAssertGreaterThan(table.symbols.count, 500)
        let kmain = try XCTUnwrap(table.symbols.first { $0.name == "$e11GuestKernel5kmainyySuF" })
        XCTAssertEqual(table.function(containing: kmain.address + 3)?.symbol, kmain)
        XCTAssertEqual(table.function(containing: kmain.address + 3)?.offset, 3)
        XCTAssertTrue(table.sectionNames.isSuperset(of: [".text", ".symtab", ".debug_line", ".debug_info"]))
    }
}
