import GuestProtocol
import KVMHost
import MachineArguments
import XCTest

/// Where guest RAM lies, as the host builds it: QEMU pc's split, the map,
/// the host's mapping with the hole inaccessible, layouts by hand, and
/// `--memory` with units.
final class GuestRAMTests: XCTestCase {
    func testRAMSplitsAsQEMUsPCMachineDoes() {
        XCTAssertEqual(GuestRAM.ranges(bytes: 64 << 20).below, 0..<(64 << 20))
        XCTAssertNil(GuestRAM.ranges(bytes: 0xE000_0000 - 4096).above, "just under 3.5 GiB lies whole below the hole")
        XCTAssertEqual(GuestRAM.ranges(bytes: 0xE000_0000 - 4096).below, 0..<(0xE000_0000 - 4096))
        let split = GuestRAM.ranges(bytes: 0xE000_0000)
        XCTAssertEqual(split.below, 0..<0xC000_0000)
        XCTAssertEqual(split.above, 0x1_0000_0000..<0x1_2000_0000)
        XCTAssertEqual(GuestRAM.ranges(bytes: 64 << 30).above, 0x1_0000_0000..<0x10_4000_0000)
        XCTAssertEqual(GuestRAM.ranges(bytes: GuestRAM.maximumBytes).above?.upperBound, GuestRAM.maximumEnd)
    }

    func testTheMapOfSplitRAMHasNoEntryForTheHole() throws {
        let map = try PhysicalMemoryMap(memorySize: 64 << 30)
        XCTAssertEqual(map.entries.map(\.description), [
            "[0x0, 0x1000) reserved(2)", "[0x1000, 0xa0000) RAM", "[0xa0000, 0x100000) reserved(2)",
            "[0x100000, 0xc0000000) RAM", "[0x100000000, 0x1040000000) RAM",
        ])
        XCTAssertEqual(map.usableFrames(), (64 << 30) / 4096 - 97)
        XCTAssertEqual(map.usableFrames(from: 1 << 32), (61 << 30) / 4096)
        // A reserved range must lie inside one range of RAM.
        for hole: Range<UInt64> in [0xC000_0000..<0xC000_1000, 0xBFFF_F000..<0xC000_1000, 0xFFFF_F000..<0x1_0000_1000,
                                    0x10_4000_0000..<0x10_4000_1000] {
            XCTAssertThrowsError(try PhysicalMemoryMap(memorySize: 64 << 30, holes: [hole])) {
                XCTAssertEqual($0 as? MemoryMapError, .holeOutsideMemory(hole, memorySize: 64 << 30), "\(hole)")
            }
        }
        let above = try PhysicalMemoryMap(memorySize: 64 << 30, holes: [0x2_0000_0000..<0x2_0020_0000])
        XCTAssertEqual(above.entries.suffix(3).map(\.description), [
            "[0x100000000, 0x200000000) RAM", "[0x200000000, 0x200200000) reserved(2)", "[0x200200000, 0x1040000000) RAM",
        ])
    }

    /// The host never reads or writes in the hole, nor across it: a typed
    /// error, as outside memory; either side works.
    func testTheHoleIsOutsideGuestMemory() throws {
        let memory = try GuestMemory(ram: [0..<0x20_0000, 0x1_0000_0000..<0x1_0010_0000])
        XCTAssertEqual(memory.size, 0x1_0010_0000)
        XCTAssertEqual(memory.ramBytes, 0x30_0000)
        try memory.store(UInt64(0x1234), at: 0x1_0000_0000)
        XCTAssertEqual(try memory.load(UInt64.self, at: 0x1_0000_0000), 0x1234)
        try memory.store(UInt64(7), at: 0x1F_FFF8)
        for (address, length): (UInt64, Int) in [(0x20_0000, 8), (0x1F_FFFC, 8), (0xFFFF_FFFC, 8), (0x8000_0000, 1), (0x1_0010_0000, 1)] {
            XCTAssertThrowsError(try memory.read(at: address, count: length)) {
                let error = $0 as? GuestMemoryError
                XCTAssertEqual(error?.address, address)
                XCTAssertEqual(error?.length, UInt64(length))
            }
        }
        XCTAssertEqual(try memory.residentBytes(in: 0x1_0000_0000..<0x1_0010_0000), 4096, "one page touched above the hole")
    }

    func testLayoutsByHandAreCheckedBeforeAnythingIsBuilt() {
        func refusal(_ ram: [Range<UInt64>], backend: Backend = .kvm) -> String? {
            do {
                try LiveGuest.Configuration(backend: backend, ram: ram).validate()
                return nil
            } catch {
                return error.description
            }
        }
        XCTAssertNil(refusal([0..<0x100_0000, 0x1_0000_0000..<0x1_0000_1000]))
        XCTAssertEqual(refusal([0x1000..<0x100_0000]), "the RAM layout cannot be built: the first range must start at 0, where the boot information goes")
        XCTAssertEqual(refusal([0..<0x100_0000, 0x80_0000..<0x200_0000]),
                       "the RAM layout cannot be built: range 1 [0x800000, 0x2000000) is not above the range before it")
        XCTAssertEqual(refusal([0..<0x100_0000, 0x200_0000..<0x200_0800]),
                       "the RAM layout cannot be built: range 1 [0x2000000, 0x2000800) does not start and end on 4 KiB pages")
        XCTAssertEqual(refusal([0..<0x100_0000, 0x200_0000..<0x200_0000]),
                       "the RAM layout cannot be built: range 1 [0x2000000, 0x2000000) is empty")
        XCTAssertEqual(refusal([0..<0x100_0000, GuestRAM.maximumEnd..<(GuestRAM.maximumEnd + 4096)]),
                       "the RAM layout cannot be built: range 1 [0x4040000000, 0x4040001000) ends above 0x4040000000")
        XCTAssertEqual(refusal((0..<33).map { UInt64($0) << 24 ..< (UInt64($0) << 24 + 0x40_0000) }),
                       "the RAM layout cannot be built: it must have 1 to 32 ranges, not 33")
        XCTAssertEqual(refusal([0..<0x100_0000], backend: .tcg),
                       "a RAM layout needs the kvm backend: under tcg, QEMU's pc machine lays out RAM itself")
        var mismatched = LiveGuest.Configuration(ram: [0..<0x100_0000])
        mismatched.memorySize = 32 << 20
        XCTAssertThrowsError(try mismatched.validate()) {
            XCTAssertEqual(($0 as? LiveGuest.ConfigurationError),
                           .ramLayout("its ranges hold 16777216 bytes, memorySize says 33554432"))
        }
    }

    func testMemorySizesTakeQEMUsUnits() throws {
        let accepted: [(String, Int)] = [
            ("64", 64 << 20), ("512M", 512 << 20), ("64G", 64 << 30), ("64g", 64 << 30), ("64GiB", 64 << 30), ("64GB", 64 << 30),
            ("4096k", 4 << 20), ("256G", 256 << 30), ("3584", 0xE000_0000),
        ]
        for (text, bytes) in accepted {
            XCTAssertEqual(try MachineArguments.memoryBytes(text), bytes, text)
        }
        for text in ["", "G", "64 G", "64GG", "64Gi", "1.5G", "0x40", "-4", "64P"] {
            XCTAssertThrowsError(try MachineArguments.memoryBytes(text), text) {
                XCTAssertTrue("\($0)".hasSuffix("is not a size: a whole number with an optional unit K, M, G or T (MiB if none), for example 512 or 64G"), "\(text): \($0)")
            }
        }
        for text in ["3", "4095K", "257G", "1T", "99999999999999999999999", "18446744073709551615G"] {
            XCTAssertThrowsError(try MachineArguments.memoryBytes(text), text) {
                XCTAssertTrue("\($0)".hasSuffix("must lie between 4 MiB and 256 GiB"), "\(text): \($0)")
            }
        }
    }
}
