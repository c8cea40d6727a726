// The CPUs the firmware lists, from the ACPI MADT: what hardware gives a
// kernel to find its CPUs, and what QEMU's firmware and KVMHost both
// write. Read at boot, before the frame allocator, through the bootstrap
// tables' direct map of the first 4 GiB (where firmware puts the tables).
// Every length and checksum is checked: a table that fails is not used,
// and the kernel runs on the boot CPU alone, saying why on the console.

struct ProcessorTable {
    /// Local APIC IDs of the enabled processors, the boot CPU's first.
    private(set) var apicIDs: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    private(set) var count = 1

    /// The boot CPU alone, as APIC ID 0: what there is before the tables are read.
    init() {}

    func apicID(_ index: Int) -> UInt64 {
        withUnsafeBytes(of: apicIDs) { UInt64($0[index]) }
    }

    private mutating func add(_ id: UInt64) {
        guard id != apicID(0) else { return }
        guard count < Int(MAXIMUM_CPUS) else {
            Console.write("guest kernel: the MADT lists more than MAXIMUM_CPUS CPUs; the rest stay off\n")
            return
        }
        withUnsafeMutableBytes(of: &apicIDs) { $0[count] = UInt8(truncatingIfNeeded: id) }
        count += 1
    }

    /// The boot CPU (its initial APIC ID, CPUID leaf 1 EBX[31:24], asked
    /// only when the MADT lists others: a CPUID leaves the guest here) and
    /// the MADT's other enabled processors, from the RSDP hvm_start_info
    /// names, or else the one the BIOS area holds.
    init(boot: BootInfo) {
        guard let madt = Self.findMADT(rsdp: boot.rsdpPhysical != 0 ? boot.rsdpPhysical : Self.searchRSDP()) else { return }
        // Every enabled processor's APIC ID, in MADT order, then the boot CPU's first.
        var listed: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
        var found = 0
        withUnsafeMutableBytes(of: &listed) { raw in
            let ids = raw.bindMemory(to: UInt64.self)
            // Entries from offset 44: type, length, then the entry's fields.
            var offset: UInt64 = 44
            while offset + 2 <= madt.length && found < ids.count {
                let type = Self.byte(madt.address + offset)
                let length = Self.byte(madt.address + offset + 1)
                guard length >= 2, offset + length <= madt.length else {
                    Console.write("guest kernel: the MADT has a malformed entry; CPUs after it stay off\n")
                    return
                }
                let enabled: UInt64 = 1
                if type == 0, length >= 8, Self.word32(madt.address + offset + 4) & enabled != 0 {
                    ids[found] = Self.byte(madt.address + offset + 3)            // processor local APIC
                    found += 1
                } else if type == 9, length >= 16, Self.word32(madt.address + offset + 8) & enabled != 0 {
                    let id = Self.word32(madt.address + offset + 4)              // processor local x2APIC
                    if id < 256 { ids[found] = id; found += 1 }
                }
                offset += length
            }
        }
        guard found > 1 else { return }
        withUnsafeMutableBytes(of: &apicIDs) { $0[0] = UInt8(truncatingIfNeeded: ProcessorTable.bootAPICID) }
        withUnsafeBytes(of: listed) { raw in
            for index in 0..<found { add(raw.load(fromByteOffset: index * 8, as: UInt64.self)) }
        }
    }

    static var bootAPICID: UInt64 {
        var registers: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        return withUnsafeMutablePointer(to: &registers) { pointer in
            pointer.withMemoryRebound(to: UInt32.self, capacity: 4) { words in
                cpu_cpuid(1, 0, words)
                return UInt64(words[1] >> 24)
            }
        }
    }

    // ---- the tables -------------------------------------------------------

    /// Below what the bootstrap tables map; nothing above it is read.
    private static let readable: UInt64 = UInt64(BOOTSTRAP_MAP_GIB) << 30

    /// Physical memory through the direct map, its base read once: ring 0
    /// is emulated here, and every byte of the tables is summed.
    private static let directMap = UnsafeRawPointer(bitPattern: UInt(DIRECT_MAP_BASE))!

    private static func byte(_ physical: UInt64) -> UInt64 {
        UInt64(directMap.load(fromByteOffset: Int(physical), as: UInt8.self))
    }
    private static func word32(_ physical: UInt64) -> UInt64 {
        UInt64(directMap.loadUnaligned(fromByteOffset: Int(physical), as: UInt32.self))
    }
    private static func word64(_ physical: UInt64) -> UInt64 {
        directMap.loadUnaligned(fromByteOffset: Int(physical), as: UInt64.self)
    }

    private static func isReadable(_ address: UInt64, _ length: UInt64) -> Bool {
        address != 0 && address < readable && length <= readable - address
    }

    /// Eight bytes a load: each load is an emulated instruction here (about
    /// 7 us), and a table is summed whole.
    private static func sumsToZero(_ address: UInt64, _ length: UInt64) -> Bool {
        var sum: UInt64 = 0
        var offset: UInt64 = 0
        let lowBytes: UInt64 = 0x00FF_00FF_00FF_00FF
        while offset + 8 <= length {
            let word = word64(address + offset)
            // The eight bytes summed in a few instructions: pairs into four
            // 16-bit lanes, the lanes into the top one by a multiply.
            let lanes = (word & lowBytes) &+ ((word >> 8) & lowBytes)
            sum &+= (lanes &* 0x0001_0001_0001_0001) >> 48
            offset += 8
        }
        while offset < length {
            sum &+= byte(address + offset)
            offset += 1
        }
        return sum & 0xFF == 0
    }

    /// A 4- or 8-byte signature, compared in one load.
    private static func hasSignature(_ address: UInt64, _ signature: StaticString) -> Bool {
        let bytes = UnsafeRawPointer(signature.utf8Start)
        if signature.utf8CodeUnitCount == 8 { return word64(address) == bytes.loadUnaligned(as: UInt64.self) }
        return word32(address) == UInt64(bytes.loadUnaligned(as: UInt32.self))
    }

    /// The legacy search: an RSDP on a 16-byte boundary in 0xE0000-0xFFFFF.
    private static func searchRSDP() -> UInt64 {
        var address: UInt64 = 0xE0000
        while address < 0x100000 {
            if hasSignature(address, "RSD PTR "), sumsToZero(address, 20) { return address }
            address += 16
        }
        return 0
    }

    /// A table whose header is readable, whose length covers its header
    /// and lies readable, and whose bytes sum to zero.
    private static func table(at address: UInt64) -> (address: UInt64, length: UInt64)? {
        guard isReadable(address, 36) else { return nil }
        let length = word32(address + 4)
        guard length >= 36, isReadable(address, length), sumsToZero(address, length) else { return nil }
        return (address, length)
    }

    /// The MADT ("APIC") the RSDP's XSDT (revision 2 and later) or RSDT lists.
    private static func findMADT(rsdp: UInt64) -> (address: UInt64, length: UInt64)? {
        guard isReadable(rsdp, 36), hasSignature(rsdp, "RSD PTR "), sumsToZero(rsdp, 20) else {
            Console.write("guest kernel: no ACPI RSDP; running on the boot CPU alone\n")
            return nil
        }
        let extended = byte(rsdp + 15) >= 2 && word64(rsdp + 24) != 0
        let rootAddress = extended ? word64(rsdp + 24) : word32(rsdp + 16)
        guard let root = table(at: rootAddress), hasSignature(root.address, extended ? "XSDT" : "RSDT") else {
            Console.write("guest kernel: the ACPI root table is malformed; running on the boot CPU alone\n")
            return nil
        }
        let entrySize: UInt64 = extended ? 8 : 4
        var entry = root.address + 36
        while entry + entrySize <= root.address + root.length {
            let address = extended ? word64(entry) : word32(entry)
            if isReadable(address, 4), hasSignature(address, "APIC") {
                guard let madt = table(at: address), madt.length >= 44 else {
                    Console.write("guest kernel: the MADT is malformed; running on the boot CPU alone\n")
                    return nil
                }
                return madt
            }
            entry += entrySize
        }
        Console.write("guest kernel: the ACPI tables have no MADT; running on the boot CPU alone\n")
        return nil
    }
}
