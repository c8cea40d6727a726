@testable import KVMHost
import GuestProtocol
import XCTest

/// The ACPI tables the host writes for a KVM guest, read back as a kernel
/// reads them: every checksum, every length and every local APIC entry.
final class ACPITablesTests: XCTestCase {
    private func word<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, _: T.Type) -> T {
        (0..<MemoryLayout<T>.size).reduce(T(0)) { $0 | T(bytes[offset + $1]) << (8 * $1) }
    }

    private func sumsToZero(_ bytes: ArraySlice<UInt8>) -> Bool { bytes.reduce(0, &+) == 0 }

    func testTheTablesListEveryCPUWithItsAPICID() throws {
        for cpus in 1...GuestCPUs.maximumCount {
            let bytes = ACPITables.bytes(cpuCount: cpus)
            let base = ACPITables.rsdpAddress
            XCTAssertEqual(UInt64(bytes.count), ACPITables.size(cpuCount: cpus))
            XCTAssertLessThanOrEqual(base + UInt64(bytes.count), PVHBoot.bootInfoRange.upperBound, "inside the boot information page")
            // RSDP, revision 2: both checksums, the XSDT's address.
            XCTAssertEqual(Array(bytes[0..<8]), Array("RSD PTR ".utf8))
            XCTAssertTrue(sumsToZero(bytes[0..<20]))
            XCTAssertTrue(sumsToZero(bytes[0..<36]))
            XCTAssertEqual(bytes[15], 2)
            XCTAssertEqual(word(bytes, 20, UInt32.self), 36)
            let xsdt = Int(word(bytes, 24, UInt64.self) - base)
            XCTAssertEqual(Array(bytes[xsdt..<xsdt + 4]), Array("XSDT".utf8))
            let xsdtLength = Int(word(bytes, xsdt + 4, UInt32.self))
            XCTAssertEqual(xsdtLength, 44)
            XCTAssertTrue(sumsToZero(bytes[xsdt..<xsdt + xsdtLength]))
            let madt = Int(word(bytes, xsdt + 36, UInt64.self) - base)
            XCTAssertEqual(Array(bytes[madt..<madt + 4]), Array("APIC".utf8))
            let madtLength = Int(word(bytes, madt + 4, UInt32.self))
            XCTAssertEqual(madtLength, 44 + 8 * cpus)
            XCTAssertEqual(madt + madtLength, bytes.count)
            XCTAssertTrue(sumsToZero(bytes[madt..<madt + madtLength]))
            XCTAssertEqual(word(bytes, madt + 36, UInt32.self), 0xFEE0_0000)
            for cpu in 0..<cpus {
                let entry = madt + 44 + 8 * cpu
                XCTAssertEqual(Array(bytes[entry..<entry + 4]), [0, 8, UInt8(cpu), UInt8(cpu)], "CPU \(cpu) of \(cpus)")
                XCTAssertEqual(word(bytes, entry + 4, UInt32.self), 1, "enabled")
            }
        }
    }

    func testTheStartInfoPointsAtTheTablesAndTheMapStopsShortOfThem() throws {
        let memory = try GuestMemory(size: 16 << 20)
        let map = try PhysicalMemoryMap(memorySize: UInt64(memory.size))
        try PVHBoot.writeStartInfo(map: map, cpuCount: 3, into: memory)
        XCTAssertEqual(try memory.load(UInt64.self, at: 0x1000 + 32), ACPITables.rsdpAddress)
        XCTAssertEqual(try memory.read(at: ACPITables.rsdpAddress, count: Int(ACPITables.size(cpuCount: 3))), ACPITables.bytes(cpuCount: 3))
        XCTAssertLessThanOrEqual(0x1040 + UInt64(PVHBoot.maximumMemoryMapEntries * 24), ACPITables.rsdpAddress)
        XCTAssertGreaterThanOrEqual(PVHBoot.maximumMemoryMapEntries, ReadyRecord.maximumMemoryMapEntries)
    }
}
