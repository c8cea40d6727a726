import CKVM
import Glibc

/// Everything KVM holds of one vCPU that this guest can change: taken and
/// put back in the order Firecracker documents (the MP state first, since
/// reading it settles pending APIC events; the events last, since setting
/// the registers and MSRs may change them).
public struct VCPUState {
    public var mpState: kvm_mp_state
    public var registers: kvm_regs
    public var specialRegisters: kvm_sregs
    /// The legacy 4 KiB XSAVE area: x87, SSE and AVX state.
    public var xsave: [UInt8]
    public var extendedControlRegisters: kvm_xcrs
    public var debugRegisters: kvm_debugregs
    /// Values of `VCPUState.msrs`, in that order.
    public var msrValues: [UInt64]
    public var events: kvm_vcpu_events
    /// Its local APIC (`kvm_lapic_state`), when the VM has the in-kernel
    /// irqchip (a guest of several CPUs); nil without.
    public var localAPIC: kvm_lapic_state?

    /// The MSRs the kernel or a user program can change that are not in
    /// kvm_sregs (EFER, FS and GS bases are): one list, taken and restored.
    public static let msrs: [(index: UInt32, name: String)] = [
        (0x10, "IA32_TSC"),
        (0x174, "IA32_SYSENTER_CS"), (0x175, "IA32_SYSENTER_ESP"), (0x176, "IA32_SYSENTER_EIP"),
        (0x277, "IA32_PAT"),
        (0xC000_0081, "STAR"), (0xC000_0082, "LSTAR"), (0xC000_0083, "CSTAR"), (0xC000_0084, "SFMASK"),
        (0xC000_0102, "KERNEL_GS_BASE"),
    ]
}

/// A vCPU's state could not be taken or put back.
public enum VCPUStateError: Error, Equatable, CustomStringConvertible {
    case ioctl(String, errno: Int32)
    case msrRefused(name: String, index: UInt32, writing: Bool)
    case capabilityMissing(String)

    public var description: String {
        switch self {
        case .ioctl(let request, let code): return "\(request) failed: \(String(cString: strerror(code)))"
        case .msrRefused(let name, let index, let writing):
            return "KVM refused to \(writing ? "write" : "read") MSR \(name) (\(hex(UInt64(index))))"
        case .capabilityMissing(let name): return "this KVM lacks \(name), which a snapshot of the vCPU needs"
        }
    }
}

extension VCPU {
    /// The vCPU's whole state, between two runs. An I/O exit still pending
    /// is completed first (KVM finishes it on the next KVM_RUN otherwise),
    /// so the state does not depend on a kvm_run area it does not include.
    public func saveState(localAPIC hasLocalAPIC: Bool = false) throws(VCPUStateError) -> VCPUState {
        try completePendingIO()
        var mpState = kvm_mp_state()
        try ioctl(ckvm_get_mp_state, &mpState, "KVM_GET_MP_STATE")
        var registers = kvm_regs()
        try ioctl(ckvm_get_regs, &registers, "KVM_GET_REGS")
        var specialRegisters = kvm_sregs()
        try ioctl(ckvm_get_sregs, &specialRegisters, "KVM_GET_SREGS")
        var xsave = [UInt8](repeating: 0, count: Int(ckvm_xsave_size))
        guard ckvm_get_xsave(fd, &xsave) == 0 else { throw .ioctl("KVM_GET_XSAVE", errno: ckvm_errno()) }
        var xcrs = kvm_xcrs()
        try ioctl(ckvm_get_xcrs, &xcrs, "KVM_GET_XCRS")
        var debugRegisters = kvm_debugregs()
        try ioctl(ckvm_get_debugregs, &debugRegisters, "KVM_GET_DEBUGREGS")
        let indices = VCPUState.msrs.map(\.index)
        var values = [UInt64](repeating: 0, count: indices.count)
        let read = ckvm_get_msrs(fd, indices, &values, UInt32(indices.count))
        guard read >= 0 else { throw .ioctl("KVM_GET_MSRS", errno: ckvm_errno()) }
        guard read == indices.count else { throw msrError(at: Int(read), writing: false) }
        var localAPIC: kvm_lapic_state?
        if hasLocalAPIC {
            var state = kvm_lapic_state()
            try ioctl(ckvm_get_lapic, &state, "KVM_GET_LAPIC")
            localAPIC = state
        }
        var events = kvm_vcpu_events()
        try ioctl(ckvm_get_vcpu_events, &events, "KVM_GET_VCPU_EVENTS")
        return VCPUState(mpState: mpState, registers: registers, specialRegisters: specialRegisters, xsave: xsave,
                         extendedControlRegisters: xcrs, debugRegisters: debugRegisters, msrValues: values, events: events,
                         localAPIC: localAPIC)
    }

    /// Puts `state` back, whatever the vCPU did since.
    public func restoreState(_ state: VCPUState) throws(VCPUStateError) {
        try completePendingIO()
        var state = state
        try ioctl(ckvm_set_mp_state, &state.mpState, "KVM_SET_MP_STATE")
        try ioctl(ckvm_set_regs, &state.registers, "KVM_SET_REGS")
        try ioctl(ckvm_set_sregs, &state.specialRegisters, "KVM_SET_SREGS")
        guard ckvm_set_xsave(fd, state.xsave) == 0 else { throw .ioctl("KVM_SET_XSAVE", errno: ckvm_errno()) }
        try ioctl(ckvm_set_xcrs, &state.extendedControlRegisters, "KVM_SET_XCRS")
        try ioctl(ckvm_set_debugregs, &state.debugRegisters, "KVM_SET_DEBUGREGS")
        // After the special registers, which hold the APIC base.
        if var localAPIC = state.localAPIC { try ioctl(ckvm_set_lapic, &localAPIC, "KVM_SET_LAPIC") }
        let indices = VCPUState.msrs.map(\.index)
        let written = ckvm_set_msrs(fd, indices, state.msrValues, UInt32(indices.count))
        guard written >= 0 else { throw .ioctl("KVM_SET_MSRS", errno: ckvm_errno()) }
        guard written == indices.count else { throw msrError(at: Int(written), writing: true) }
        try ioctl(ckvm_set_vcpu_events, &state.events, "KVM_SET_VCPU_EVENTS")
    }

    private func completePendingIO() throws(VCPUStateError) {
        guard ckvm_complete_pending_io(fd, runArea) == 0 else { throw .ioctl("KVM_RUN (completing the pending exit)", errno: ckvm_errno()) }
    }

    private func ioctl<T: BitwiseCopyable>(_ request: UInt, _ value: inout T, _ name: String) throws(VCPUStateError) {
        guard ckvm_ioctl_pointer(fd, request, &value) == 0 else { throw .ioctl(name, errno: ckvm_errno()) }
    }

    private func msrError(at position: Int, writing: Bool) -> VCPUStateError {
        let msr = VCPUState.msrs[position]
        return .msrRefused(name: msr.name, index: msr.index, writing: writing)
    }
}
