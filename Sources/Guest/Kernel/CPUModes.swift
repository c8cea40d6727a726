// What the CPU has (CPUID, through CPUFeature's bits) and the paging modes
// the kernel turns on from it at boot: without NX nothing is mapped
// no-execute (bit 63 would be a reserved bit).

enum CPUModes {
    private static let eferMSR: UInt32 = 0xC000_0080
    private static let eferNoExecute: UInt = 1 << 11
    private static let cr4SMEP: UInt = 1 << 20
    private static let cr4SMAP: UInt = 1 << 21

    static func has(_ feature: CPUFeature) -> Bool {
        var registers: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        let extended = feature.leaf >= 0x8000_0000
        let top: UInt32 = withUnsafeMutablePointer(to: &registers) { pointer in
            pointer.withMemoryRebound(to: UInt32.self, capacity: 4) { cpu_cpuid(extended ? 0x8000_0000 : 0, 0, $0); return $0[0] }
        }
        guard feature.leaf <= top else { return false }
        let value: UInt32 = withUnsafeMutablePointer(to: &registers) { pointer in
            pointer.withMemoryRebound(to: UInt32.self, capacity: 4) { words in
                cpu_cpuid(feature.leaf, feature.subleaf, words)
                switch feature.register {
                case .eax: return words[0]
                case .ebx: return words[1]
                case .ecx: return words[2]
                case .edx: return words[3]
                }
            }
        }
        return value >> feature.bit & 1 != 0
    }

    /// MAXPHYADDR: CPUID 0x80000008 EAX[7:0], 36 where the leaf is missing
    /// (the SDM's default), kept within what an entry can hold.
    static var physicalAddressBits: UInt64 {
        var registers: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        return withUnsafeMutablePointer(to: &registers) { pointer in
            pointer.withMemoryRebound(to: UInt32.self, capacity: 4) { words in
                cpu_cpuid(0x8000_0000, 0, words)
                guard words[0] >= 0x8000_0008 else { return 36 }
                cpu_cpuid(0x8000_0008, 0, words)
                return min(max(UInt64(words[0] & 0xFF), 32), 52)
            }
        }
    }

    static var noExecute: Bool { UInt(cpu_read_msr(eferMSR)) & eferNoExecute != 0 }
    static var smep: Bool { cpu_read_cr4() & cr4SMEP != 0 }
    static var smap: Bool { cpu_read_cr4() & cr4SMAP != 0 }

    /// Before the first mapping: the entries the Pagemap makes follow
    /// EFER.NXE; SMEP and SMAP on where CPUID has them. The kernel reaches
    /// user memory only through the direct map after a walk of the process's
    /// tables (UserTraps.userByte, the loader's copy), never through a user
    /// address, so SMAP needs no stac/clac around it; the trap entry clears
    /// EFLAGS.AC that ring 3 may have set.
    static func start() {
        PageTableEntry.noExecuteAvailable = noExecute
        var cr4 = cpu_read_cr4()
        if has(.smep) { cr4 |= cr4SMEP }
        if has(.smap) { cr4 |= cr4SMAP }
        cpu_write_cr4(cr4)
    }

    static var features: UInt64 {
        var mask: UInt64 = 0
        for feature in CPUFeature.allCases where has(feature) { mask |= feature.maskBit }
        return mask
    }
}

extension ReadCPU {
    public func perform() throws(CallError) -> Reply {
        Reply(features: CPUModes.features, noExecute: CPUModes.noExecute, smep: CPUModes.smep, smap: CPUModes.smap,
              gigabyteDirectMap: KernelAddressSpace.gigabyteDirectMap, physicalAddressBits: CPUModes.physicalAddressBits)
    }
}
