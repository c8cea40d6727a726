@testable import KVMHost
import XCTest

/// The RBP chain is the guest's own data: the walk is bounded and ends, with
/// its reason, on any stack a hostile or broken guest can build.
final class BacktraceTests: XCTestCase {
    /// Guest memory whose page tables map virtual = physical for the first
    /// 2 MiB (one PT), with CR3 at 0x1000.
    private func identityMapped() throws -> GuestMemory {
        let memory = try GuestMemory(size: 4 << 20)
        try memory.store(UInt64(0x2000 | 3), at: 0x1000)
        try memory.store(UInt64(0x3000 | 3), at: 0x2000)
        try memory.store(UInt64(0x4000 | 3), at: 0x3000)
        for page in 1..<512 { try memory.store(UInt64(page << 12 | 3), at: 0x4000 + UInt64(page * 8)) }
        return memory
    }

    /// Frames at `frames[i]`: saved RBP = the next frame (0 after the last), return address = 0x1000 + i.
    private func chain(_ memory: GuestMemory, _ frames: [UInt64]) throws {
        for (index, frame) in frames.enumerated() {
            try memory.store(index + 1 < frames.count ? frames[index + 1] : 0, at: frame)
            try memory.store(UInt64(0xA000 + index), at: frame + 8)
        }
    }

    func testAWellFormedChainEndsAtTheOutermostFrame() throws {
        let memory = try identityMapped()
        try chain(memory, [0x10000, 0x10040, 0x10100])
        let trace = Backtrace.walk(memory: memory, cr3: 0x1000, rip: 0x5555, rbp: 0x10000)
        XCTAssertEqual(trace, Backtrace(addresses: [0x5555, 0xA000, 0xA001, 0xA002], end: .outermostFrame))
    }

    func testHostileStacksEndWithTheirReason() throws {
        let memory = try identityMapped()
        // A frame that points at itself: a loop.
        try memory.store(UInt64(0x20000), at: 0x20000)
        try memory.store(UInt64(0xB000), at: 0x20008)
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0x20000),
                       Backtrace(addresses: [1, 0xB000], end: .badFramePointer(0x20000)))
        // Two frames pointing at each other.
        try chain(memory, [0x30000, 0x30100])
        try memory.store(UInt64(0x30000), at: 0x30100)
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0x30000),
                       Backtrace(addresses: [1, 0xA000, 0xA001], end: .badFramePointer(0x30000)))
        // Misaligned, non-canonical, unmapped, outside memory.
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0x10003).end, .badFramePointer(0x10003))
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0xFFFF_8000_0000_0000).end, .badFramePointer(0xFFFF_8000_0000_0000))
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0x40_0000), Backtrace(addresses: [1], end: .unmappedFrame(0x40_0000)))
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x7FFF_F000, rip: 1, rbp: 0x10000), Backtrace(addresses: [1], end: .unmappedFrame(0x10000)))
        // The return address on the next page, which is not mapped.
        try memory.store(UInt64(0), at: 0x1F_FFF8)
        XCTAssertEqual(Backtrace.walk(memory: memory, cr3: 0x1000, rip: 1, rbp: 0x1F_FFF8).end, .unmappedFrame(0x1F_FFF8))
    }

    func testAnEndlessChainStopsAtTheDepthLimit() throws {
        let memory = try identityMapped()
        try chain(memory, (0..<100).map { 0x50000 + UInt64($0) * 0x100 })
        let trace = Backtrace.walk(memory: memory, cr3: 0x1000, rip: 7, rbp: 0x50000)
        XCTAssertEqual(trace.addresses.count, Backtrace.maximumDepth)
        XCTAssertEqual(trace.end, .depthLimit)
        XCTAssertEqual(trace.addresses, [7] + (0..<UInt64(Backtrace.maximumDepth - 1)).map { 0xA000 + $0 })
    }

    func testDemangledNamesAreSimplified() {
        XCTAssertEqual(SwiftDemangler.demangle("$e11GuestKernel5kmainyySuF"), "GuestKernel.kmain(Swift.UInt) -> ()")
        XCTAssertEqual(SwiftDemangler.simplified("function signature specialization <Arg[0] = Dead> of static GuestKernel.Monitor.(execute in _53C01C8C)(GuestKernel.(Words in _53C01C8C)) -> ()"),
                       "static GuestKernel.Monitor.execute(GuestKernel.Words) -> ()")
        XCTAssertEqual(SwiftDemangler.demangle("kmain"), "kmain", "C names stay")
    }

    func testSymbolTablesOfMalformedImagesAreEmpty() {
        XCTAssertTrue(ELFSymbolTable(elf: []).symbols.isEmpty)
        var header = [UInt8](repeating: 0, count: 64)
        header[0...4] = [0x7F, 0x45, 0x4C, 0x46, 2]
        header[40] = 0xF0; header[58] = 64; header[60] = 0xFF; header[61] = 0xFF  // 65,535 sections past the end
        XCTAssertTrue(ELFSymbolTable(elf: header).symbols.isEmpty)
    }
}
