import CKVM

extension KVMGuest {
    /// The guest as it stands now, between two events (after `boot`, between
    /// calls, after a failure): see `GuestSnapshot`. The first snapshot
    /// starts KVM's dirty-page log, so that a restore copies back only the
    /// pages written since. With several CPUs, every vCPU is out of the
    /// guest (the boot CPU is, on this thread) until memory is copied too,
    /// so that the states and memory are of one moment.
    public func snapshot() throws -> GuestSnapshot {
        let vm = try snapshotVM()
        if let status = exitStatus { throw SnapshotError.guestExited(status: status) }
        return try kvm.withEveryCPUOut {
            let several = kvm.vcpus.count > 1
            let states: [VCPUState], interruptController: InterruptControllerState?
            do throws(VCPUStateError) {
                states = try kvm.vcpus.map { vcpu throws(VCPUStateError) in try vcpu.saveState(localAPIC: several) }
                interruptController = several ? try vm.saveInterruptController() : nil
            } catch {
                throw SnapshotError.vcpu(error)
            }
            try vm.startDirtyLogging()
            _ = try vm.takeDirtyPages()
            let snapshot = try GuestSnapshot(of: memory, kernelDigest: kernelDigest, cpuFeatures: configuration.cpu, vcpus: states,
                                             interruptController: interruptController, serial: serial.state, host: hostState)
            snapshotBaseline = snapshot
            return snapshot
        }
    }

    /// Puts the guest back as `snapshot` found it, in this VM: the vCPU's
    /// state, the host's side, and guest memory. Memory is copied whole the
    /// first time this snapshot is restored here, and after that only the
    /// pages the guest or the host wrote since (KVM's dirty log, the host's
    /// own record). Returns how many pages were copied.
    @discardableResult
    public func restore(_ snapshot: GuestSnapshot) throws -> Int {
        let vm = try snapshotVM()
        guard snapshot.memorySize == memory.size else {
            throw SnapshotError.memorySizeMismatch(snapshot: snapshot.memorySize, guest: memory.size)
        }
        guard snapshot.ram == memory.ram else { throw SnapshotError.differentRAM(snapshot: snapshot.ram, guest: memory.ram) }
        guard snapshot.kernelDigest == kernelDigest else {
            throw SnapshotError.differentKernel(snapshot: snapshot.kernelDigest, guest: kernelDigest)
        }
        guard snapshot.cpuFeatures.selectsTheSame(as: configuration.cpu) else {
            throw SnapshotError.differentCPU(snapshot: snapshot.cpuFeatures, guest: configuration.cpu)
        }
        guard snapshot.cpuCount == kvm.vcpus.count else {
            throw SnapshotError.differentCPUCount(snapshot: snapshot.cpuCount, guest: kvm.vcpus.count)
        }
        // Every vCPU out of the guest until memory is back too: another CPU
        // must not run its restored state on memory not yet restored.
        return try kvm.withEveryCPUOut { try restore(snapshot, vm: vm) }
    }

    private func restore(_ snapshot: GuestSnapshot, vm: VirtualMachine) throws -> Int {
        try kvm.restoreCPUs(snapshot)
        try vm.startDirtyLogging()
        let dirty = try vm.takeDirtyPages()
        var copied = 0
        if snapshotBaseline === snapshot {
            // Page numbers come from KVM's log and the host's record, both
            // sized to this memory; the sizes were checked equal above.
            dirty.forEachPage { page in
                snapshot.copyPage(page, into: memory)
                copied += 1
            }
        } else {
            snapshot.copyAllPages(into: memory)
            copied = snapshot.ramPages
            snapshotBaseline = snapshot
        }
        restoreHostState(snapshot.host, serial: snapshot.serial)
        return copied
    }

    private func snapshotVM() throws -> VirtualMachine {
        if debugger.isActive { throw SnapshotError.debuggerAttached }
        for (capability, name) in [(ckvm_cap_xsave, "KVM_CAP_XSAVE"), (ckvm_cap_xcrs, "KVM_CAP_XCRS"),
                                   (ckvm_cap_debugregs, "KVM_CAP_DEBUGREGS"), (ckvm_cap_vcpu_events, "KVM_CAP_VCPU_EVENTS")] {
            guard vm.kvm.supports(capability) else { throw SnapshotError.capabilityMissing(name) }
        }
        return vm
    }
}

extension KVMGuest {
    /// Takes or rewinds to the console's snapshot if one was asked for;
    /// between two KVM_RUNs, so the vCPU is out of the guest.
    func serveSnapshotRequest() {
        guard let request = snapshotRequests.take() else { return }
        do {
            switch request {
            case .take:
                consoleSnapshot = try snapshot()
                snapshotReport?("snapshot taken: Ctrl-A r rewinds to it")
            case .rewind:
                guard let consoleSnapshot else {
                    snapshotReport?("no snapshot to rewind to: Ctrl-A s takes one")
                    return
                }
                let pages = try restore(consoleSnapshot)
                snapshotReport?("rewound to the snapshot (\(pages) pages copied back); the guest goes on from there")
            }
        } catch {
            snapshotReport?("\(error)")
        }
    }
}
