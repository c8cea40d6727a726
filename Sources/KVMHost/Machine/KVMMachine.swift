import Foundation
import GuestProtocol

/// The guest on this machine's KVM: a VM with one vCPU run on the calling
/// thread, its port I/O routed to COM1, the report port and the exit port.
/// What only KVM has lives here: the VM and vCPU themselves, the gdb stub and
/// the port trace (snapshots are `KVMGuest`'s, built on this).
public final class KVMMachine: Machine {
    public let vm: VirtualMachine
    public let vcpu: VCPU
    /// The gdb remote stub, idle until `KVMGuest.attachDebugger` or `debugger.listen`.
    public let debugger: GuestDebugger
    /// Called for every port access once it is handled (a read's value is
    /// then in place), and for one no device claims.
    public var portTrace: ((PortAccess) -> Void)?

    var backend: Backend { .kvm }
    var memory: GuestMemory { vm.memory }
    public var stopHandle: VCPUStopHandle { vcpu.stopHandle }
    var hasEnded: Bool { false }

    private let bus = PortBus()
    private let serial: Serial16550
    private let doorbell = ReportDoorbell()
    private let exitPort = ExitPort()
    /// Stops already seen and not yet returned: a `rep outsl` rings several records.
    private var pending: [MachineStop] = []
    var waitForDebuggerAtStart = false

    init(vm: VirtualMachine, vcpu: VCPU, serial: Serial16550, memoryMap: PhysicalMemoryMap) {
        self.vm = vm
        self.vcpu = vcpu
        self.serial = serial
        debugger = GuestDebugger(vcpu: vcpu, memory: vm.memory, memoryMap: memoryMap)
        bus.attach(serial)
        bus.attach(doorbell)
        bus.attach(exitPort)
    }

    deinit {
        debugger.close()
    }

    func effectiveDeadline(_ deadline: Deadline) -> Deadline {
        debugger.isActive ? .never : deadline
    }

    func sendConsoleInput(_ bytes: [UInt8]) throws {
        serial.enqueueInput(bytes)
    }

    func cpuState() -> CPUState? { vcpu.snapshot() }

    func run(until deadline: Deadline) throws -> MachineStop {
        if !pending.isEmpty { return pending.removeFirst() }
        if stopHandle.isRequested { return .stopRequested }
        if waitForDebuggerAtStart {
            waitForDebuggerAtStart = false
            try debugger.serve(.paused)
            if stopHandle.isRequested { return .stopRequested }  // Ctrl-A x while it waited for gdb
        }
        let deadline = effectiveDeadline(deadline)
        if deadline.hasPassed { return .deadlinePassed }
        return try vcpu.withWatchdog(deadline: deadline) {
            while true {
                if let stop = try handle(try vcpu.run(), deadline) { return stop }
            }
        }
    }

    private func handle(_ exit: VCPUExit, _ deadline: Deadline) throws -> MachineStop? {
        switch exit {
        case .portIO(let access):
            // After the device answered, so that a read's value is traced too.
            defer { portTrace?(access) }
            do {
                try bus.handle(access)
            } catch let error as UnclaimedPortError {
                return .unclaimedPort(port: error.port, direction: error.direction, size: error.size)
            } catch let error as ChannelError {
                return .channel(error)
            }
            pending += doorbell.rung.map { .record(address: $0) }
            doorbell.rung.removeAll()
            if let status = exitPort.status {
                exitPort.status = nil
                pending.append(.exited(status: status))
            }
            return pending.isEmpty ? nil : pending.removeFirst()
        case .interrupted:
            if vcpu.stopHandle.isRequested { return .stopRequested }
            if try debugger.pauseIfRequested() { return nil }
            if vcpu.watchdogFired || deadline.hasPassed { return .deadlinePassed }
            // A kick (a snapshot request, a wake): the caller has something to do.
            return .wantsAttention
        case .halt: return .wantsInput
        case .debug(let exit):
            // A `hlt` stepped over while a watchpoint is set: the guest waits
            // for input, and gets it as if it had halted.
            return try debugger.debugExit(exit) ? .wantsInput : nil
        case .mmio(let access): return .mmio(access)
        case .shutdown: return .tripleFault
        case .failEntry(let reason): return .failEntry(hardwareReason: reason)
        case .internalError(let suberror): return .internalError(suberror: suberror)
        case .systemEvent(let type): return .systemEvent(type: type)
        case .other(let reason): return .unknownExit(reason: reason)
        }
    }

    func runFailed(_ failure: GuestFailure) {
        waitForDebuggerIfAsked(after: failure)
        debugger.runEnded(exitStatus: nil)
    }

    func runExited(status: UInt32) {
        debugger.runEnded(exitStatus: status)
    }

    /// With KVMHOST_GDB_ON_FAILURE=PORT, a failure waits for a debugger to
    /// look at the guest as it failed, and is reported once it detaches.
    private func waitForDebuggerIfAsked(after failure: GuestFailure) {
        guard failure.kind != .stoppedByUser,
              let text = ProcessInfo.processInfo.environment[LiveGuest.debugOnFailureVariable], let port = UInt16(text) else { return }
        do {
            let bound = try debugger.listen(port: port)
            debugger.log("the guest failed (\(escapingControlCharacters(failure.summary))); waiting for a debugger: "
                         + "gdb -ex 'target remote 127.0.0.1:\(bound)' guest.elf (`swift run kvmhost kernel-path` prints where guest.elf is)")
            try debugger.serve(.failure)
        } catch {
            debugger.log("\(error)")
        }
    }
}

extension KVMMachine {
    /// A VM with the kernel loaded and the vCPU at its PVH entry, or, from
    /// `snapshot`, a VM whose memory maps the snapshot's file copy-on-write
    /// and whose vCPU is the snapshot's. Returns the memory map the guest has.
    static func boot(kernel: [UInt8], image: ELFImage, configuration: LiveGuest.Configuration, serial: Serial16550,
                     from snapshot: GuestSnapshot? = nil) throws -> (KVMMachine, PhysicalMemoryMap) {
        let memoryMap = try PhysicalMemoryMap(ram: configuration.ramRanges, holes: configuration.memoryHoles)
        for hole in configuration.memoryHoles {
            if let segment = image.segments.first(where: { $0.physicalRange.overlaps(hole) }) {
                throw MemoryMapError.holeOverlapsKernel(hole, kernel: segment.physicalRange)
            }
        }
        let kvm = try KVM(path: configuration.kvmPath)
        let vm: VirtualMachine
        let vcpu: VCPU
        if let snapshot {
            let digest = KernelDigest.of(kernel)
            guard snapshot.kernelDigest == digest else { throw SnapshotError.differentKernel(snapshot: snapshot.kernelDigest, guest: digest) }
            let memory = try GuestMemory(copyOnWriteOf: snapshot.memoryFile, ram: snapshot.ram)
            vm = try VirtualMachine(kvm: kvm, ram: snapshot.ram, memory: memory)
            vcpu = try vm.createVCPU(cpu: configuration.cpu)
            do { try vcpu.restoreState(snapshot.vcpu) } catch { throw SnapshotError.vcpu(error) }
        } else {
            vm = try VirtualMachine(kvm: kvm, ram: configuration.ramRanges, memory: nil, backing: configuration.memoryBacking)
            try image.load(into: vm.memory, map: memoryMap, keepingFree: PVHBoot.bootInfoRange, memoryIsZeroed: true)
            try PVHBoot.writeStartInfo(map: memoryMap, into: vm.memory)
            vcpu = try vm.createVCPU(cpu: configuration.cpu)
            try PVHBoot.setInitialState(of: vcpu, entry: image.pvhEntry)
        }
        return (KVMMachine(vm: vm, vcpu: vcpu, serial: serial, memoryMap: memoryMap), memoryMap)
    }
}
