/// The ACPI tables a PVH guest finds its CPUs in, as firmware leaves them:
/// an RSDP (revision 2) pointing at an XSDT that lists one MADT with a
/// local APIC entry a vCPU (APIC ID = the vCPU's index, as CPUID reports
/// it). QEMU's firmware writes its own; on KVM the host writes these, in the
/// boot information page after the memory map, and hvm_start_info's
/// rsdp_paddr points at them. The kernel reads them at boot, before it
/// takes any memory, so they need no reservation of their own.
enum ACPITables {
    static let rsdpAddress: UInt64 = 0x1D00
    static let xsdtAddress: UInt64 = rsdpAddress + 48
    static let madtAddress: UInt64 = xsdtAddress + 48
    /// Where the local APICs are, in the MADT's header (the architectural default).
    static let localAPICAddress: UInt32 = 0xFEE0_0000
    /// The bytes the tables take for `cpuCount` CPUs, from `rsdpAddress`.
    static func size(cpuCount: Int) -> UInt64 { madtAddress - rsdpAddress + UInt64(44 + 8 * cpuCount) }

    /// The three tables, laid out from `rsdpAddress`.
    static func bytes(cpuCount: Int) -> [UInt8] {
        var rsdp = Array("RSD PTR ".utf8)
        rsdp += [0]                                     // checksum of the first 20 bytes
        rsdp += Array("KVMHST".utf8)                    // OEM ID
        rsdp += [2]                                     // revision 2: has an XSDT
        rsdp += littleEndian(UInt32(0), 4)              // no RSDT
        rsdp += littleEndian(UInt32(36), 4)             // length
        rsdp += littleEndian(xsdtAddress, 8)
        rsdp += [0, 0, 0, 0]                            // extended checksum, reserved
        rsdp[8] = checksum(rsdp[0..<20])
        rsdp[32] = checksum(rsdp[0..<36])

        var xsdt = header(signature: "XSDT", length: 36 + 8, revision: 1)
        xsdt += littleEndian(madtAddress, 8)
        xsdt[9] = checksum(xsdt[...])

        var madt = header(signature: "APIC", length: 44 + 8 * cpuCount, revision: 3)
        madt += littleEndian(localAPICAddress, 4)
        madt += littleEndian(UInt32(0), 4)              // flags: no 8259 PICs to mask
        for cpu in 0..<cpuCount {
            // Processor Local APIC: type 0, length 8, processor UID, APIC ID, flags (enabled).
            madt += [0, 8, UInt8(cpu), UInt8(cpu)] + littleEndian(UInt32(1), 4)
        }
        madt[9] = checksum(madt[...])

        func padded(_ bytes: [UInt8], to size: UInt64) -> [UInt8] { bytes + [UInt8](repeating: 0, count: Int(size) - bytes.count) }
        return padded(rsdp, to: xsdtAddress - rsdpAddress) + padded(xsdt, to: madtAddress - xsdtAddress) + madt
    }

    private static func header(signature: String, length: Int, revision: UInt8) -> [UInt8] {
        var bytes = Array(signature.utf8)
        bytes += littleEndian(UInt32(length), 4)
        bytes += [revision, 0]                          // revision, checksum
        bytes += Array("KVMHST".utf8)                   // OEM ID
        bytes += Array("KVMHOST ".utf8)                 // OEM table ID
        bytes += littleEndian(UInt32(1), 4)             // OEM revision
        bytes += Array("KVMH".utf8)                     // creator ID
        bytes += littleEndian(UInt32(1), 4)             // creator revision
        return bytes
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: UInt64(value) >> (8 * $0)) }
    }

    /// The byte that makes `bytes` sum to zero mod 256.
    private static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        0 &- bytes.reduce(0, &+)
    }
}
