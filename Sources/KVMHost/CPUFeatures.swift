import CKVM
import GuestProtocol

/// A CPU the backend cannot give the guest, and why.
public enum CPUFeatureError: Error, Equatable, CustomStringConvertible {
    case unsupported(CPUFeature, backend: Backend, reason: String)
    case namedTwice(CPUFeature)
    /// The guest's CPUID disagrees with the selection after all: the
    /// backend set it, the CPU answered otherwise.
    case notHonoured(CPUFeature, backend: Backend, guestHasIt: Bool)

    public var description: String {
        switch self {
        case .unsupported(let feature, let backend, let reason):
            return "the \(backend) backend cannot give the guest \(feature.name): \(reason)"
        case .namedTwice(let feature):
            return "\(feature.name) is both given and taken away"
        case .notHonoured(let feature, let backend, let guestHasIt):
            return "the \(backend) backend " + (guestHasIt ? "could not take \(feature.name) away: the guest's CPUID still has it"
                                                           : "could not give the guest \(feature.name): the guest's CPUID lacks it")
                + " (CPUID \(hex(UInt64(feature.leaf))) \(feature.register) bit \(feature.bit))"
        }
    }
}

extension CPUSelection {
    /// QEMU TCG 7.2's x86 emulation: it has no PCID (QEMU says "TCG
    /// doesn't support requested feature").
    static let tcgFeatures: [CPUFeature] = [.lm, .nx, .pdpe1gb, .smep, .smap]

    func validate() throws(CPUFeatureError) {
        if let twice = enabled.first(where: disabled.contains) { throw .namedTwice(twice) }
    }

    /// The edits to KVM's supported CPUID, once KVM is known to have every
    /// feature to give: it cannot virtualize what it does not support.
    func kvmEdits(kvmDescriptor: Int32) throws -> [ckvm_cpuid_bit] {
        try validate()
        for feature in enabled {
            let supported = ckvm_supported_cpuid_bit(kvmDescriptor, feature.leaf, feature.subleaf, feature.register.index, feature.bit)
            if supported < 0 { throw KVMError.ioctlFailed(request: "KVM_GET_SUPPORTED_CPUID", errno: ckvm_errno()) }
            if supported == 0 {
                throw CPUFeatureError.unsupported(feature, backend: .kvm, reason: "this KVM's KVM_GET_SUPPORTED_CPUID does not have it "
                                                  + "(CPUID \(hex(UInt64(feature.leaf))) \(feature.register) bit \(feature.bit))")
            }
        }
        return enabled.map { $0.edit(value: 1) } + disabled.map { $0.edit(value: 0) }
    }

    /// The first named feature the guest's CPUID (`ReadCPU.Reply.features`)
    /// does not agree with. This KVM, for one, answers CPUID leaf 7 with the
    /// host's SMEP and SMAP whatever KVM_SET_CPUID2 was given.
    func disagreement(withGuestFeatures features: UInt64) -> (feature: CPUFeature, guestHasIt: Bool)? {
        if let missing = enabled.first(where: { features & $0.maskBit == 0 }) { return (missing, false) }
        if let kept = disabled.first(where: { features & $0.maskBit != 0 }) { return (kept, true) }
        return nil
    }

    /// QEMU's -cpu value: its qemu64 model with the features given and taken
    /// away, `enforce`d (QEMU stops rather than drop one); nil for its default.
    func qemuModel() throws(CPUFeatureError) -> String? {
        try validate()
        if let missing = enabled.first(where: { !Self.tcgFeatures.contains($0) }) {
            throw .unsupported(missing, backend: .tcg, reason: "QEMU TCG does not emulate it")
        }
        guard !isDefault else { return nil }
        let features = enabled.map { "+\($0.name)" } + disabled.map { "-\($0.name)" }
        return (["qemu64"] + features + ["enforce"]).joined(separator: ",")
    }
}

extension CPUSelection {
    /// The features given and taken away as `CPUFeature.maskBit`s: what a
    /// snapshot keeps of the CPU it ran on.
    var enabledMask: UInt64 { enabled.reduce(0) { $0 | $1.maskBit } }
    var disabledMask: UInt64 { disabled.reduce(0) { $0 | $1.maskBit } }

    /// The selection of two masks, in `CPUFeature`'s order; nil where a bit
    /// names no feature or a feature is both given and taken away.
    init?(enabledMask: UInt64, disabledMask: UInt64) {
        let known = CPUFeature.allCases.reduce(0) { $0 | $1.maskBit }
        guard (enabledMask | disabledMask) & ~known == 0, enabledMask & disabledMask == 0 else { return nil }
        self.init(enabled: CPUFeature.allCases.filter { enabledMask & $0.maskBit != 0 },
                  disabled: CPUFeature.allCases.filter { disabledMask & $0.maskBit != 0 })
    }

    /// The same features given and taken away, in whatever order named.
    func selectsTheSame(as other: CPUSelection) -> Bool {
        enabledMask == other.enabledMask && disabledMask == other.disabledMask
    }
}

extension CPUSelection: CustomStringConvertible {
    /// As --cpu takes it.
    public var description: String {
        isDefault ? "the default CPU" : (enabled.map { "+\($0.name)" } + disabled.map { "-\($0.name)" }).joined(separator: ",")
    }
}

extension CPUFeature {
    func edit(value: UInt32) -> ckvm_cpuid_bit {
        ckvm_cpuid_bit(leaf: leaf, subleaf: subleaf, reg: register.index, bit: bit, value: value)
    }
}

extension CPUFeature.Register {
    var index: UInt32 {
        switch self {
        case .eax: return 0
        case .ebx: return 1
        case .ecx: return 2
        case .edx: return 3
        }
    }
}
