import CKVM
import GuestProtocol

/// Starts a vCPU the way the PVH boot protocol prescribes (as QEMU, Firecracker
/// and cloud-hypervisor do): 32-bit protected mode, paging off, flat segments,
/// EBX = guest-physical address of hvm_start_info, whose version-1 memory map
/// is the E820 map of the machine.
public enum PVHBoot {
    /// Where the boot information goes: page 1, right above the reserved page 0.
    /// The guest learns this from EBX and must keep it until it has read it.
    public static let bootInfoRange: Range<UInt64> = 0x1000..<0x2000
    static let startInfoAddress: UInt64 = 0x1000
    static let memoryMapAddress: UInt64 = 0x1040
    static let startInfoMagic: UInt32 = 0x336E_C578

    /// The memory map ends where the ACPI tables start.
    public static var maximumMemoryMapEntries: Int {
        Int(ACPITables.rsdpAddress - memoryMapAddress) / MemoryMapEntry.pvhEntrySize
    }

    /// Writes hvm_start_info, the memory map and the ACPI tables that list
    /// `cpuCount` CPUs into guest memory.
    public static func writeStartInfo(map: PhysicalMemoryMap, cpuCount: Int, into memory: GuestMemory) throws {
        // PhysicalMemoryMap refuses maps larger than this page holds.
        precondition(map.entries.count <= maximumMemoryMapEntries)
        let info = startInfoAddress
        _ = try memory.withMutableBytes(at: bootInfoRange.lowerBound, count: Int(bootInfoRange.count)) {
            $0.initializeMemory(as: UInt8.self, repeating: 0)
        }
        try memory.store(startInfoMagic, at: info)          // magic
        try memory.store(UInt32(1), at: info + 4)          // version 1: has a memory map
        try memory.store(ACPITables.rsdpAddress, at: info + 32)
        try memory.store(UInt64(memoryMapAddress), at: info + 40)
        try memory.store(UInt32(map.entries.count), at: info + 48)
        for (index, entry) in map.entries.enumerated() {
            let address = memoryMapAddress + UInt64(index * MemoryMapEntry.pvhEntrySize)
            try memory.store(entry.base, at: address)
            try memory.store(entry.length, at: address + 8)
            try memory.store(entry.type, at: address + 16)
        }
        precondition(ACPITables.rsdpAddress + ACPITables.size(cpuCount: cpuCount) <= bootInfoRange.upperBound)
        try memory.write(ACPITables.bytes(cpuCount: cpuCount), at: ACPITables.rsdpAddress)
    }

    /// Puts the vCPU at `entry` in 32-bit protected mode with paging off.
    public static func setInitialState(of vcpu: VCPU, entry: UInt32) throws {
        var sregs = try vcpu.specialRegisters()
        func flat(selector: UInt16, type: UInt8) -> kvm_segment {
            kvm_segment(base: 0, limit: 0xFFFF_FFFF, selector: selector, type: type, present: 1, dpl: 0,
                        db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0, padding: 0)
        }
        sregs.cs = flat(selector: 0x08, type: 0xB)          // execute/read, accessed
        let data = flat(selector: 0x10, type: 0x3)          // read/write, accessed
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        // A busy 32-bit TSS in TR: virtualization requires a usable one on entry.
        sregs.tr = kvm_segment(base: 0, limit: 0x67, selector: 0x18, type: 0xB, present: 1, dpl: 0,
                               db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0, padding: 0)
        sregs.ldt = kvm_segment(base: 0, limit: 0, selector: 0, type: 0x2, present: 1, dpl: 0,
                                db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1, padding: 0)
        sregs.gdt = kvm_dtable(base: 0, limit: 0, padding: (0, 0, 0))
        sregs.idt = kvm_dtable(base: 0, limit: 0, padding: (0, 0, 0))
        sregs.cr0 = 0x11                                    // PE, ET; paging off
        sregs.cr3 = 0
        sregs.cr4 = 0
        sregs.efer = 0
        try vcpu.setSpecialRegisters(sregs)

        var regs = kvm_regs()
        regs.rip = UInt64(entry)
        regs.rbx = startInfoAddress
        regs.rflags = 0x2
        try vcpu.setRegisters(regs)
    }
}
