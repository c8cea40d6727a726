// The CPU features a machine can be given or denied (`kvmhost boot --cpu
// +smep,-nx`), each with its CPUID bit: one definition the host uses to
// build the vCPU's CPUID (KVM_SET_CPUID2, QEMU's -cpu) and the kernel to
// ask what it has.

public enum CPUFeature: CaseIterable, Sendable {
    case lm, nx, pdpe1gb, smep, smap, pcid

    /// QEMU's name, which --cpu takes.
    public var name: StaticString {
        switch self {
        case .lm: return "lm"
        case .nx: return "nx"
        case .pdpe1gb: return "pdpe1gb"
        case .smep: return "smep"
        case .smap: return "smap"
        case .pcid: return "pcid"
        }
    }

    /// Its bit in a set of features on the wire (`ReadCPU`).
    public var maskBit: UInt64 {
        switch self {
        case .lm: return 1 << 0
        case .nx: return 1 << 1
        case .pdpe1gb: return 1 << 2
        case .smep: return 1 << 3
        case .smap: return 1 << 4
        case .pcid: return 1 << 5
        }
    }

    public enum Register: Sendable { case eax, ebx, ecx, edx }

    /// Where CPUID reports it: leaf, subleaf, register, bit.
    public var leaf: UInt32 {
        switch self {
        case .lm, .nx, .pdpe1gb: return 0x8000_0001
        case .smep, .smap: return 7
        case .pcid: return 1
        }
    }
    public var subleaf: UInt32 { 0 }
    public var register: Register {
        switch self {
        case .lm, .nx, .pdpe1gb: return .edx
        case .smep, .smap: return .ebx
        case .pcid: return .ecx
        }
    }
    public var bit: UInt32 {
        switch self {
        case .lm: return 29
        case .nx: return 20
        case .pdpe1gb: return 26
        case .smep: return 7
        case .smap: return 20
        case .pcid: return 17
        }
    }
}

/// Features turned on and off against the backend's default CPU, as
/// `--cpu +smep,-nx` says: none means the default.
public struct CPUSelection: Equatable, Sendable {
    public var enabled: [CPUFeature]
    public var disabled: [CPUFeature]

    public init(enabled: [CPUFeature] = [], disabled: [CPUFeature] = []) {
        self.enabled = enabled
        self.disabled = disabled
    }

    public var isDefault: Bool { enabled.isEmpty && disabled.isEmpty }
}
