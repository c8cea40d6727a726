/// What runs a `LiveGuest`: this machine's KVM (the product), or QEMU TCG,
/// an independent x86 implementation that behaves as hardware does where the
/// KVM here does not (gate privilege, `syscall`), and runs without /dev/kvm.
/// The names are QEMU's `-accel` values.
public enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case kvm
    case tcg

    public var description: String { rawValue }

    /// Why this backend cannot run here, or nil when it can.
    public var unavailableReason: String? {
        switch self {
        case .kvm: return KVM.deviceExists() ? nil : "/dev/kvm is missing"
        case .tcg: return QEMUMachine.find() == nil ? "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)" : nil
        }
    }
}
