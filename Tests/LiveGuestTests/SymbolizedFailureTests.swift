import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// A failing guest names where it failed: function, .swift file and line,
/// and the calls that led there, by the RBP chain.
final class SymbolizedFailureTests: GuestBehaviourTestCase {
    private func failure(_ kernel: [UInt8]? = nil, _ body: (LiveGuest) throws -> Void) throws -> GuestFailure {
        let guest = try liveGuest(kernel: kernel ?? GuestImage.kernel())
        _ = try guest.boot()
        do {
            try body(guest)
        } catch let failure as GuestFailure {
            return failure
        }
        throw XCTSkip("unreachable: the guest did not fail")
    }

    func testAKernelExceptionNamesTheFaultingFunctionAndItsCallers() throws {
        try onEachBackend { _ in
            let caught = try failure { _ = try $0.call(RaiseException(.pageFault(address: 0x4000_0000))) }
            let (frames, problem) = try XCTUnwrap(caught.symbolizedBacktrace())
            XCTAssertNil(problem)
            XCTAssertGreaterThanOrEqual(frames.count, 4, "\(frames)")
            guard case .exception(let report) = caught.kind else { return XCTFail("\(caught.kind)") }
            XCTAssertEqual(frames[0].address, report.rip, "the trap frame's RIP, not the handler's")
            // The handler (it also hands the exception to another CPU, so it
            // is not inlined into the dispatcher) raises it, at its own line;
            // the dispatcher's generic visit called it.
            XCTAssertEqual(frames[0].function, "GuestKernel.RaiseException.perform() throws(GuestKernel.CallError) -> GuestKernel.Done")
            XCTAssertTrue(frames[0].description.contains("Sources/Guest/Kernel/Calls/KernelCallHandlers.swift:"), "\(frames[0])")
            XCTAssertEqual(callers(of: frames), ["GuestKernel.CallDispatcher.Server.visit<A where A: GuestKernel.GuestCall>(A.Type) -> ()",
                                                 "static GuestKernel.CallDispatcher.run() -> Swift.Never"])
            XCTAssertTrue(frames.contains { $0.function == "GuestKernel.kmain(Swift.UInt) -> ()" }, "\(frames)")
            XCTAssertEqual(caught.backtrace?.end, .outermostFrame)
            XCTAssertTrue(caught.description.contains("\nat 0x\(String(report.rip, radix: 16)) in GuestKernel.RaiseException.perform"), caught.description)
            XCTAssertTrue(caught.description.contains("backtrace (RBP chain, \(frames.count) frames, ended at the outermost frame):\n  #0 0x"), caught.description)
        }
    }

    func testAPanicNamesTheFrameThatCalledThePanicFunction() throws {
        try onEachBackend { _ in
            if GuestImage.instrumented {
                throw XCTSkip("asserts the plain kernel's inlining of kernelPanic; the coverage build inlines differently")
            }
            let caught = try failure { guest in
                _ = try guest.call(ExhaustFrames(), timeout: .seconds(60))
                _ = try guest.call(RequireFrame())
            }
            XCTAssertEqual(caught.kind, .panic(PanicReport(reason: "out of physical memory: a frame the host required", value: 0)))
            let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
            // The report's own frames (the channel, its serial link on tcg,
            // kernelPanic) are left out; PhysicalMemory.requireFrame is
            // inlined into the dispatcher's visit: its frame names the line
            // of the request that panicked.
            let first = frames[0].description
            XCTAssertTrue(first.contains("in GuestKernel.CallDispatcher.Server.visit<A where A: GuestKernel.GuestCall>"), first)
            XCTAssertNotNil(first.range(of: "Sources/Guest/Kernel/PhysicalMemory.swift:"), first)
            XCTAssertFalse(frames.contains { $0.function?.contains("ReportChannel") == true || $0.function?.contains("SerialLink") == true || $0.function?.hasPrefix("GuestKernel.kernelPanic") == true },
                           "\(frames)")
            XCTAssertEqual(callers(of: frames), ["static GuestKernel.CallDispatcher.run() -> Swift.Never"])
        }
    }

    /// The frames between the dispatcher's visit and kmain, without the one
    /// that maps a call's code to its type (which the optimizer may or may
    /// not inline into the dispatcher's loop).
    private func callers(of frames: [GuestSymbols.Location]) -> [String] {
        frames.dropFirst().prefix { $0.function != "GuestKernel.kmain(Swift.UInt) -> ()" }
            .compactMap(\.function).filter { !$0.hasPrefix("GuestKernel.CallCode.visit<") }
    }

    func testAnAssertionNamesItsCaller() throws {
        try onEachBackend { _ in
            let caught = try failure { _ = try $0.call(AssertEqual(1, 2)) }
            let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
            // guestAssert is inlined into the handler that asserted: that frame
            // is at the handler's line, with guestAssert's lines inlined in it.
            let caller = try XCTUnwrap(frames.first { $0.function == "GuestKernel.AssertEqual.perform() throws(GuestKernel.CallError) -> GuestKernel.Done" },
                                       "\(frames)")
            XCTAssertTrue(caller.line?.contains("Sources/Guest/Kernel/Calls/KernelCallHandlers.swift:") == true, "\(caller)")
            XCTAssertTrue(caller.description.contains("Sources/Guest/Kernel/GuestAssert.swift:"), "\(caller)")
        }
    }

    func testATimeoutShowsWhereTheGuestWas() throws {
        try onEachBackend { _ in
            let caught = try failure { _ = try $0.call(Spin(), timeout: .milliseconds(200)) }
            XCTAssertEqual(caught.kind, .timeout(.milliseconds(200)))
            let (frames, _) = try XCTUnwrap(caught.symbolizedBacktrace())
            XCTAssertGreaterThanOrEqual(frames.count, 2)
            XCTAssertTrue(frames.contains { $0.function == "static GuestKernel.CallDispatcher.run() -> Swift.Never" }, "\(frames)")
        }
    }

    /// Without DWARF lines, function + offset still name the frames, and the
    /// report says why there is no file:line.
    func testWithoutLinesFunctionsRemain() throws {
        try onEachBackend { _ in
            var kernel = try GuestImage.kernel()
            let name = Array(".debug_line\0".utf8)
            for index in 0...(kernel.count - name.count) where Array(kernel[index..<index + name.count]) == name {
                kernel[index + 10] = UInt8(ascii: "X")  // the section is now ".debug_linX"
            }
            let caught = try failure(kernel) { _ = try $0.call(RaiseException(.pageFault(address: 0x4000_0000))) }
            let (frames, problem) = try XCTUnwrap(caught.symbolizedBacktrace())
            XCTAssertEqual(problem, .noDebugInformation)
            XCTAssertEqual(frames[0].function, "GuestKernel.RaiseException.perform() throws(GuestKernel.CallError) -> GuestKernel.Done")
            XCTAssertNil(frames[0].line)
            XCTAssertTrue(caught.description.contains("(no file:line: the kernel image has no DWARF line table; functions from the symbol table)"),
                          caught.description)
        }
    }

    func testTheKernelsSymbolTable() throws {
        try onEachBackend { _ in
            let table = ELFSymbolTable(elf: try GuestImage.kernel())
            XCTAssertGreaterThan(table.symbols.count, 500)
            let kmain = try XCTUnwrap(table.symbols.first { $0.name == "$e11GuestKernel5kmainyySuF" })
            XCTAssertEqual(table.function(containing: kmain.address + 3)?.symbol, kmain)
            XCTAssertEqual(table.function(containing: kmain.address + 3)?.offset, 3)
            XCTAssertTrue(table.sectionNames.isSuperset(of: [".text", ".symtab", ".debug_line", ".debug_info"]))
        }
    }
}
