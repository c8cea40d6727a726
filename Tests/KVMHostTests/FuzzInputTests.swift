import Foundation
import FuzzTargets
import GuestProtocol
import KVMHost
import XCTest

/// Every seed input and every input a fuzzing run ever crashed on, put
/// through the fuzz targets again on each test run. A crash here names the
/// file; `swift run fuzz TARGET <file>` replays it.
final class FuzzInputTests: XCTestCase {
    private let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    private func inputs(_ target: String) throws -> [URL] {
        try ["Corpus", "Regressions"].flatMap { kind -> [URL] in
            let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target)
            return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }.sorted { $0.path < $1.path }
    }

    func testELFLoaderInputs() throws {
        let files = try inputs("elf-loader")
        XCTAssertGreaterThanOrEqual(files.count, 5, "the seed corpus is in Fuzz/Corpus/elf-loader")
        var outcomes: [String: ELFLoadError?] = [:]
        for file in files { outcomes[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzELFLoader) }
        // The seeds reach past the parser: some load, some are refused late.
        XCTAssertEqual(outcomes["pvh-exit-42"], .some(nil))
        XCTAssertEqual(outcomes["pvh-two-segments-bss"], .some(nil))
        XCTAssertEqual(outcomes["no-pvh-note"], .missingPVHEntry)
        XCTAssertEqual(outcomes["overlapping-segments"], .segmentsOverlap(first: 0, second: 1))
        XCTAssertEqual(outcomes["user-program-hello"], .missingPVHEntry)
    }

    func testReportChannelInputs() throws {
        let files = try inputs("report-channel")
        XCTAssertGreaterThanOrEqual(files.count, 10, "the seed corpus is in Fuzz/Corpus/report-channel")
        var outcomes: [String: Result<GuestReport, ChannelError>?] = [:]
        for file in files { outcomes[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzReportChannel) }
        // Every seed of a record kind decodes to that kind. (The ready seed
        // starts with the wire format's fingerprint: a protocol change makes
        // it another kernel's record, and its first word must follow.)
        for (name, outcome) in outcomes where !["address-outside", "console-line"].contains(name) && !name.hasPrefix("crash-") {
            _ = String(describing: outcome)  // every report describes itself, whatever its words
            guard case .success? = outcome else { return XCTFail("seed \(name): \(String(describing: outcome))") }
        }
        XCTAssertEqual(outcomes["console-misaligned"], .success(.console(Array("abc".utf8))))
        XCTAssertEqual(outcomes["stale-translation"], .success(.staleTranslation(StaleTranslationRecord(
            address: 0x1C0_0000_0000, root: 0x401000, level: 1, leaf: true, change: .unmapped, checkpoint: .endOfCall, pending: 1,
            writtenFrom: WordList([0x7FFF_8010_B17E, 0x7FFF_8014_7D0E])))))
        XCTAssertEqual(outcomes["address-outside"], .failure(.outsideGuestMemory(address: 0xFFFF_F000, length: 16)))
    }

    func testPageWalkerInputs() throws {
        let files = try inputs("page-walkers")
        XCTAssertGreaterThanOrEqual(files.count, 5, "the seed corpus is in Fuzz/Corpus/page-walkers")
        var outcomes: [String: AddressSpaceMapError?] = [:]
        for file in files { outcomes[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzPageWalkers) }
        XCTAssertEqual(outcomes["four-levels"], .some(nil))
        XCTAssertEqual(outcomes["huge-pages"], .some(nil))
        XCTAssertEqual(outcomes["upper-half"], .some(nil))
        XCTAssertEqual(outcomes["self-referencing-root"], .tooManyRegions(limit: fuzzWalkerLimits.regions, cr3: 0x1000))
        XCTAssertEqual(outcomes["table-outside-memory"], .tableOutsideMemory(level: 3, table: 0x7FFF_0000, memorySize: UInt64(fuzzWalkerMemorySize)))
        // The page-table check over the same memory, its table at 0x2000 in the check-table seeds.
        func check(_ name: String) throws -> Result<PageTableCheck.Report, PageTableCheckError> {
            let bytes = try Data(contentsOf: try XCTUnwrap(files.first { $0.lastPathComponent == name }))
            let memory = try GuestMemory(size: fuzzWalkerMemorySize)
            try memory.write(Array(bytes.dropFirst(16)), at: 0)
            return fuzzPageTableCheck(memory: memory, tableAddress: 0x2000)
        }
        XCTAssertEqual(try check("check-table-loop"), .failure(.tableReachedTwice(table: 0x1000, level: 3, firstLevel: 4, space: 0)))
        let space = PublishedTable.Space(index: 0, root: 0x1000, kind: .kernel)
        let step = PageWalk.Step(level: 4, tableAddress: 0x1000, index: 1, entry: 0x3087)
        XCTAssertEqual(try check("check-table-reserved"), .success(.init(
            spaces: 1, tables: 1, mappings: 0,
            violations: [.init(rule: .reservedBitsSet, frame: 0x1000, reservedBits: 0x80,
                               mappings: [.init(space: space, virtual: 0x80_0000_0000, steps: [step])])],
            violationsLeftOut: 0)))
    }

    func testMachineArgumentInputs() throws {
        let files = try inputs("machine-arguments")
        XCTAssertGreaterThanOrEqual(files.count, 5, "the seed corpus is in Fuzz/Corpus/machine-arguments")
        var parsed: [String: Int] = [:]
        for file in files { parsed[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzMachineArguments) }
        XCTAssertEqual(parsed["defaults"], 2)
        XCTAssertEqual(parsed["no-limit"], 3)
        XCTAssertEqual(parsed["largest"], 5)
        XCTAssertEqual(parsed["bad-values"], 0)
        XCTAssertEqual(parsed["hole-over-everything"], 3)
        XCTAssertEqual(parsed["memory-above-3GiB"], 2, "64 GiB split around the hole, and a timeout")
    }

    func testRemotePacketInputs() throws {
        let files = try inputs("remote-packets")
        XCTAssertGreaterThanOrEqual(files.count, 4, "the seed corpus is in Fuzz/Corpus/remote-packets")
        var packets: [String: Int] = [:]
        for file in files { packets[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzRemotePackets) }
        XCTAssertEqual(packets["qsupported"], 1)
        XCTAssertEqual(packets["bad-checksum-then-g"], 1, "the first checksum is wrong")
        XCTAssertEqual(packets["escapes"], 0, "a wrong checksum")
        XCTAssertEqual(packets["continue-interrupt"], 1)
    }

    func testSnapshotFileInputs() throws {
        let files = try inputs("snapshot-file")
        XCTAssertGreaterThanOrEqual(files.count, 1, "the seed corpus is in Fuzz/Corpus/snapshot-file")
        var outcomes: [String: SnapshotFileError?] = [:]
        for file in files { outcomes[file.lastPathComponent] = try Data(contentsOf: file).withUnsafeBytes(fuzzSnapshotFile) }
        // The seed is a whole file of this version: fuzzing starts past the header.
        XCTAssertEqual(outcomes["ready-guest-without-pages"], .some(nil))
    }

    /// The reader's exact answers, byte by byte.
    /// Each input names a wire type and gives it words; the property holds
    /// for each (a violation stops the target), and the seeds reach both ends.
    func testWireFormatInputs() throws {
        let files = try inputs("wire-format")
        XCTAssertGreaterThanOrEqual(files.count, 5, "the seed corpus is in Fuzz/Corpus/wire-format")
        let outcomes = try files.map { try Data(contentsOf: $0).withUnsafeBytes(fuzzWireFormat) }
        XCTAssertTrue(outcomes.contains(.decoded), "\(outcomes)")
        XCTAssertTrue(outcomes.contains { if case .refused? = $0 { true } else { false } }, "\(outcomes)")
    }

    func testRemotePacketReader() {
        var reader = RemotePacketReader()
        let items = Array("+$g#67-\u{03}$m0,4#fd$m0,4#00".utf8).compactMap { reader.take($0) }
        XCTAssertEqual(items, [.acknowledged, .packet(Array("g".utf8)), .retransmitRequested, .interrupt,
                               .packet(Array("m0,4".utf8)), .badChecksum])
        let escaped = RemotePacketReader.frame(Array("a#b$c}d*".utf8))
        XCTAssertEqual(String(decoding: escaped, as: UTF8.self), "$a}\u{03}b}\u{04}c}]d}\n#ec")
        var again = RemotePacketReader()
        XCTAssertEqual(escaped.compactMap { again.take($0) }, [.packet(Array("a#b$c}d*".utf8))])
        var long = RemotePacketReader()
        let tooLong = ([UInt8(ascii: "$")] + [UInt8](repeating: 0x61, count: RemotePacketReader.maximumPayload + 1) + Array("#00".utf8))
            .compactMap { long.take($0) }
        XCTAssertEqual(tooLong, [.tooLong])
    }
}
