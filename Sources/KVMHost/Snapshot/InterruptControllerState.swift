import CKVM

/// The in-kernel irqchip of a VM with several CPUs (`createInterruptController`):
/// the two 8259 PICs and the IOAPIC, as KVM lays each out (`kvm_irqchip`,
/// chip 0, 1 and 2). The local APICs are each vCPU's (`VCPUState.localAPIC`).
public struct InterruptControllerState {
    /// KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC: the order they are kept in.
    public static let chipIDs: [UInt32] = [0, 1, 2]
    public var chips: [kvm_irqchip]
}

extension VirtualMachine {
    /// The irqchip's state, between two runs of every vCPU.
    func saveInterruptController() throws(VCPUStateError) -> InterruptControllerState {
        var chips: [kvm_irqchip] = []
        for id in InterruptControllerState.chipIDs {
            var chip = kvm_irqchip()
            chip.chip_id = id
            guard ckvm_ioctl_pointer(fd, ckvm_get_irqchip, &chip) == 0 else { throw .ioctl("KVM_GET_IRQCHIP", errno: ckvm_errno()) }
            chips.append(chip)
        }
        return InterruptControllerState(chips: chips)
    }

    /// Puts the irqchip back as `state` had it.
    func restoreInterruptController(_ state: InterruptControllerState) throws(VCPUStateError) {
        for var chip in state.chips {
            guard ckvm_ioctl_pointer(fd, ckvm_set_irqchip, &chip) == 0 else { throw .ioctl("KVM_SET_IRQCHIP", errno: ckvm_errno()) }
        }
    }
}
