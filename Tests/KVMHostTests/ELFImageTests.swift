@testable import KVMHost
import TestSupport
import XCTest

/// Each malformed image gets its own error, and nothing is loaded from it.
final class ELFImageTests: XCTestCase {
    let code: [UInt8] = [0xF4]

    private func parse(_ builder: ELFBuilder) -> Error? {
        do {
            _ = try ELFImage(bytes: builder.build())
            return nil
        } catch {
            return error
        }
    }

    private func assertError(_ builder: ELFBuilder, _ expected: ELFLoadError, line: UInt = #line) {
        XCTAssertEqual(parse(builder) as? ELFLoadError, expected, line: line)
    }

    func testWellFormedImageParsesWithItsPVHEntry() throws {
        let image = try ELFImage(bytes: ELFBuilder.guest(code: code).build())
        XCTAssertEqual(image.pvhEntry, 0x100000)
        XCTAssertEqual(image.segments.count, 1)
        XCTAssertEqual(image.segments[0].physicalRange, 0x100000..<0x100001)
    }

    func testTruncatedHeader() {
        XCTAssertEqual(try? ELFImage(bytes: Array(repeating: 0, count: 10)).pvhEntry, nil)
        XCTAssertThrowsError(try ELFImage(bytes: Array(ELFBuilder.guest(code: code).build().prefix(63)))) {
            XCTAssertEqual($0 as? ELFLoadError, .truncatedHeader(size: 63))
        }
    }

    func testNotELF() {
        var bytes = ELFBuilder.guest(code: code).build()
        bytes[1] = 0x58
        XCTAssertThrowsError(try ELFImage(bytes: bytes)) { XCTAssertEqual($0 as? ELFLoadError, .notELF) }
    }

    func testWrongClass() {
        var builder = ELFBuilder.guest(code: code)
        builder.elfClass = 1
        assertError(builder, .notELF64(elfClass: 1))
    }

    func testBigEndian() {
        var builder = ELFBuilder.guest(code: code)
        builder.dataEncoding = 2
        assertError(builder, .notLittleEndian(encoding: 2))
    }

    func testWrongMachine() {
        var builder = ELFBuilder.guest(code: code)
        builder.machine = 183  // AArch64
        assertError(builder, .wrongMachine(183))
    }

    func testNotAnExecutable() {
        var builder = ELFBuilder.guest(code: code)
        builder.type = 3  // shared object
        assertError(builder, .notExecutable(type: 3))
    }

    func testBadProgramHeaderSize() {
        var builder = ELFBuilder.guest(code: code)
        builder.programHeaderSize = 32
        assertError(builder, .badProgramHeaderSize(32))
    }

    func testProgramHeadersPastTheEndOfFile() {
        var builder = ELFBuilder.guest(code: code)
        builder.programHeaderOffset = 0xFFFF_FFFF_FFFF_FF00  // and no overflow on the way
        let size = builder.build().count
        assertError(builder, .programHeadersOutOfFile(offset: 0xFFFF_FFFF_FFFF_FF00, count: 2, fileSize: size))
    }

    func testSegmentPastTheEndOfFile() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments[0].fileSize = 4096
        let size = builder.build().count
        assertError(builder, .segmentOutOfFile(index: 0, offset: 176, size: 4096, fileSize: size))
    }

    func testSegmentOffsetThatWouldOverflow() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments[0].fileOffset = UInt64.max - 2
        builder.segments[0].fileSize = 16
        let size = builder.build().count
        assertError(builder, .segmentOutOfFile(index: 0, offset: UInt64.max - 2, size: 16, fileSize: size))
    }

    func testFileSizeLargerThanMemorySize() {
        var builder = ELFBuilder.guest(code: [0xF4, 0xF4])
        builder.segments[0].memorySize = 1
        assertError(builder, .segmentFileSizeExceedsMemorySize(index: 0, fileSize: 2, memorySize: 1))
    }

    func testSegmentAddressOverflow() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments[0].physicalAddress = UInt64.max - 0x10
        builder.segments[0].memorySize = 0x100
        assertError(builder, .segmentAddressOverflow(index: 0, address: UInt64.max - 0x10, size: 0x100))
    }

    func testOverlappingSegments() {
        var builder = ELFBuilder.guest(code: Array(repeating: 0x90, count: 0x100))
        builder.segments.append(.init(physicalAddress: 0x1000F0, bytes: [1, 2, 3]))
        assertError(builder, .segmentsOverlap(first: 0, second: 1))
    }

    func testNoLoadableSegment() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments[0].type = 6  // PT_PHDR: not loaded
        assertError(builder, .noLoadableSegments)
    }

    func testMalformedNote() {
        var builder = ELFBuilder.guest(code: code)
        builder.noteBytes = le32(4) + le32(0x1000) + le32(18) + Array("Xen\0".utf8) + le32(0x100000)
        assertError(builder, .malformedNote(offset: 177))
    }

    func testMissingPVHNote() {
        assertError(ELFBuilder(segments: [.init(physicalAddress: 0x100000, bytes: code)], pvhEntry: nil), .missingPVHEntry)
    }

    func testNoteOfAnotherOwnerIsNoPVHEntry() {
        var builder = ELFBuilder.guest(code: code)
        builder.noteBytes = le32(4) + le32(4) + le32(18) + Array("GNU\0".utf8) + le32(0x100000)
        assertError(builder, .missingPVHEntry)
    }

    func testSegmentOutsideGuestRAMIsRefusedAndNothingIsWritten() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let map = try PhysicalMemoryMap(memorySize: 8 << 20)
        let cases: [(UInt64, UInt64)] = [(0x7FF000, 0x2000), (0xA0000, 0x10), (0x0, 0x10), (0x10_0000_0000, 1)]
        for (address, size) in cases {
            var builder = ELFBuilder(segments: [.init(physicalAddress: 0x200000, bytes: [0xAA]),
                                                .init(physicalAddress: address, bytes: [0xBB], memorySize: size)],
                                     pvhEntry: 0x200000)
            builder.segments[1].memorySize = size
            let image = try ELFImage(bytes: builder.build())
            XCTAssertThrowsError(try image.load(into: memory, map: map, keepingFree: PVHBoot.bootInfoRange)) {
                XCTAssertEqual($0 as? ELFLoadError, .segmentOutsideGuestRAM(index: 1, start: address, end: address + size))
            }
            XCTAssertEqual(try memory.load(UInt8.self, at: 0x200000), 0, "a refused image must not be half loaded")
        }
    }

    /// An empty PT_LOAD says nothing about memory, wherever it claims to
    /// lie: it loads as nothing, as QEMU's loader takes it (the fuzzer found
    /// one at 0x68000000000000 that made the loader throw an untyped error).
    func testAnEmptySegmentAnywhereLoadsAsNothing() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let map = try PhysicalMemoryMap(memorySize: 8 << 20)
        for address: UInt64 in [0x68_0000_0000_0000, 0x7FFFFF, 0x800000, 0xA0000, 0x1000] {
            var builder = ELFBuilder(segments: [.init(physicalAddress: 0x200000, bytes: [0xAA]),
                                                .init(physicalAddress: address, bytes: [])],
                                     pvhEntry: 0x200000)
            builder.segments[1].memorySize = 0
            let image = try ELFImage(bytes: builder.build())
            XCTAssertEqual(image.segments.map(\.memorySize), [1, 0])
            try image.load(into: memory, map: map, keepingFree: PVHBoot.bootInfoRange)
            XCTAssertEqual(try memory.load(UInt8.self, at: 0x200000), 0xAA, "at 0x\(String(address, radix: 16))")
            try memory.write([0], at: 0x200000)
        }
    }

    func testSegmentOverBootInfoIsRefused() throws {
        let memory = try GuestMemory(size: 8 << 20)
        let map = try PhysicalMemoryMap(memorySize: 8 << 20)
        let image = try ELFImage(bytes: ELFBuilder.guest(code: code, at: 0x1800).build())
        XCTAssertThrowsError(try image.load(into: memory, map: map, keepingFree: PVHBoot.bootInfoRange)) {
            XCTAssertEqual($0 as? ELFLoadError, .segmentOverlapsBootInfo(index: 0, bootInfo: 0x1000..<0x2000))
        }
    }

    func testLoadCopiesFileBytesAndZeroesTheRest() throws {
        let memory = try GuestMemory(size: 8 << 20)
        try memory.write(Array(repeating: 0xEE, count: 16), at: 0x300000)
        let map = try PhysicalMemoryMap(memorySize: 8 << 20)
        let image = try ELFImage(bytes: ELFBuilder(segments: [.init(physicalAddress: 0x300000, bytes: [1, 2, 3], memorySize: 16)],
                                                   pvhEntry: 0x300000).build())
        try image.load(into: memory, map: map, keepingFree: PVHBoot.bootInfoRange)
        XCTAssertEqual(try memory.read(at: 0x300000, count: 16), [1, 2, 3] + Array(repeating: 0, count: 13))
    }

    /// 65,535 program headers: refused from the count alone, at once.
    func testTooManyProgramHeaders() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments += (0..<(ELFImage.maximumProgramHeaders)).map { .init(physicalAddress: 0x200000 + UInt64($0) * 0x1000, bytes: [0]) }
        assertError(builder, .tooManyProgramHeaders(count: ELFImage.maximumProgramHeaders + 2, limit: ELFImage.maximumProgramHeaders))
        var header = ELFBuilder.guest(code: code).build()
        header[56] = 0xFF; header[57] = 0xFF  // e_phnum 65,535
        XCTAssertEqual((try? ELFImage(bytes: header + [UInt8](repeating: 0, count: 65_535 * 56))).map { _ in "parsed" }, nil)
        XCTAssertThrowsError(try ELFImage(bytes: header + [UInt8](repeating: 0, count: 65_535 * 56))) {
            XCTAssertEqual($0 as? ELFLoadError, .tooManyProgramHeaders(count: 65_535, limit: ELFImage.maximumProgramHeaders))
        }
    }

    /// The most program headers allowed, all loadable, checked for overlap
    /// after sorting: the overlapping pair is found wherever it is.
    func testOverlapIsFoundAmongManySegments() {
        var builder = ELFBuilder.guest(code: code)
        builder.segments += (1..<(ELFImage.maximumProgramHeaders - 2)).reversed().map { .init(physicalAddress: 0x200000 + UInt64($0) * 0x1000, bytes: [0]) }
        XCTAssertNil(parse(builder))
        builder.segments.append(.init(physicalAddress: 0x200000 + 40 * 0x1000, bytes: [0]))
        assertError(builder, .segmentsOverlap(first: 86, second: 126))
    }

    /// Many note segments over the same bytes full of tiny notes: the walk
    /// stops at its budget.
    func testNoteWalkIsBounded() {
        var builder = ELFBuilder.guest(code: code)
        builder.noteBytes = (0..<2000).flatMap { _ in le32(0) + le32(0) + le32(1) }
        assertError(builder, .tooManyNotes(limit: ELFImage.maximumNotes))
    }

    func testEntryMustBeInLoadedFileBytes() {
        for entry: UInt32 in [0x100001, 0x0FFFFF, 0x1000, 0x7000_0000] {
            var builder = ELFBuilder(segments: [.init(physicalAddress: 0x100000, bytes: code, memorySize: 0x1000)], pvhEntry: entry)
            builder.segments[0].bytes = code
            assertError(builder, .entryNotInLoadedCode(entry: entry))
        }
    }
}
