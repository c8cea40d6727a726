import Foundation
import GuestProtocol

/// The guest on this machine's KVM: a VM whose boot CPU runs on the calling
/// thread (and each other vCPU on a thread of its own, its exits handed to
/// the calling thread), its port I/O routed to COM1, the report port, the
/// input-wait port and the exit port. What only KVM has lives here: the VM
/// and vCPUs themselves, the gdb stub and the port trace (snapshots are
/// `KVMGuest`'s, built on this).
public final class KVMMachine: Machine {
    public let vm: VirtualMachine
    /// The boot CPU.
    public let vcpu: VCPU
    /// The other vCPUs, in order of their index (from 1).
    let applicationProcessors: [ApplicationProcessor]
    /// Every vCPU, by index.
    public var vcpus: [VCPU] { [vcpu] + applicationProcessors.map(\.vcpu) }
    /// The CPU whose exit the last stop came from.
    public private(set) var stoppedCPU = 0
    /// Posted from a vCPU's thread when it has an exit for the machine's
    /// thread: something waiting for console input must look again.
    let applicationProcessorExit = ExitNotice()
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
    private let inputWait = InputWaitPort()
    /// Stops already seen and not yet returned, with the CPU each came
    /// from: a `rep outsl` rings several records.
    private var pending: [(cpu: Int, stop: MachineStop)] = []
    /// Application processors whose exit became a stop: they stay out of
    /// the guest until the caller has dealt with it (the next `run`).
    private var held: [ApplicationProcessor] = []
    var waitForDebuggerAtStart = false
    /// The other vCPUs were paused when the run failed (`otherCPUStates`).
    private var pausedByFailure = false

    init(vm: VirtualMachine, vcpus: [VCPU], serial: Serial16550, memoryMap: PhysicalMemoryMap) {
        self.vm = vm
        self.vcpu = vcpus[0]
        self.serial = serial
        let boot = vcpus[0].stopHandle
        let notice = applicationProcessorExit
        applicationProcessors = vcpus.dropFirst().map { ApplicationProcessor(vcpu: $0, notify: { boot.kick(); notice.post() }) }
        let others = applicationProcessors
        debugger = GuestDebugger(vcpus: vcpus, memory: vm.memory, memoryMap: memoryMap,
                                 pauseOthers: { for processor in others { processor.pause() } },
                                 unpauseOthers: { for processor in others { processor.unpause() } })
        bus.attach(serial)
        bus.attach(doorbell)
        bus.attach(exitPort)
        bus.attach(inputWait)
        for processor in applicationProcessors { processor.start() }
    }

    deinit {
        for processor in applicationProcessors { processor.stop() }
        for processor in applicationProcessors { processor.join() }
        debugger.close()
    }

    func effectiveDeadline(_ deadline: Deadline) -> Deadline {
        debugger.isActive ? .never : deadline
    }

    func sendConsoleInput(_ bytes: [UInt8]) throws {
        serial.enqueueInput(bytes)
    }

    func cpuState() -> CPUState? { vcpus[stoppedCPU].snapshot() }

    /// Every vCPU but the one the stop came from, paused first: a failure's
    /// report says what the others were doing. They stay paused: the run is
    /// over (until a restore rewinds it).
    func otherCPUStates() -> [OtherCPU] {
        if !pausedByFailure {
            pausedByFailure = true
            for processor in applicationProcessors { processor.pause() }
        }
        return vcpus.indices.filter { $0 != stoppedCPU }.compactMap { index in
            vcpus[index].snapshot().map { OtherCPU(index: index, state: $0) }
        }
    }

    func run(until deadline: Deadline) throws -> MachineStop {
        if let next = pending.first {
            pending.removeFirst()
            stoppedCPU = next.cpu
            return next.stop
        }
        // The caller has dealt with what held them.
        for processor in held { processor.resume() }
        held.removeAll()
        stoppedCPU = 0
        if stopHandle.isRequested { return .stopRequested }
        if waitForDebuggerAtStart {
            waitForDebuggerAtStart = false
            try debugger.serve(.paused, cpu: 0)
            if stopHandle.isRequested { return .stopRequested }  // Ctrl-A x while it waited for gdb
        }
        let deadline = effectiveDeadline(deadline)
        if deadline.hasPassed { return .deadlinePassed }
        return try vcpu.withWatchdog(deadline: deadline) {
            while true {
                if let stop = try takeApplicationProcessorExits(deadline) { return stop }
                if let stop = try handle(try vcpu.run(), deadline, cpu: 0) { return stop }
            }
        }
    }

    /// Handles the exits the other vCPUs wait with: one that needs the
    /// caller becomes the stop returned, its vCPU held until the next `run`;
    /// the others' vCPUs go on at once.
    private func takeApplicationProcessorExits(_ deadline: Deadline) throws -> MachineStop? {
        for processor in applicationProcessors {
            guard let exit = processor.takeExit() else { continue }
            guard let stop = try handle(try exit.get(), deadline, cpu: processor.index) else {
                processor.resume()
                continue
            }
            held.append(processor)
            stoppedCPU = processor.index
            return stop
        }
        return nil
    }

    /// Hands back the first stop `exit` (of CPU `cpu`) makes, keeping the rest.
    private func handle(_ exit: VCPUExit, _ deadline: Deadline, cpu: Int) throws -> MachineStop? {
        guard let stop = try stops(of: exit, deadline, cpu: cpu) else { return nil }
        stoppedCPU = cpu
        return stop
    }

    private func stops(of exit: VCPUExit, _ deadline: Deadline, cpu: Int) throws -> MachineStop? {
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
            var stops = doorbell.rung.map { MachineStop.record(address: $0) }
            doorbell.rung.removeAll()
            if inputWait.waiting {
                inputWait.waiting = false
                stops.append(.wantsInput)
            }
            if let status = exitPort.status {
                exitPort.status = nil
                stops.append(.exited(status: status))
            }
            guard let first = stops.first else { return nil }
            pending += stops.dropFirst().map { (cpu: cpu, stop: $0) }
            return first
        case .interrupted:
            if vcpu.stopHandle.isRequested { return .stopRequested }
            if try debugger.pauseIfRequested() { return nil }
            if vcpu.watchdogFired || deadline.hasPassed {
                // With several CPUs a `hlt` stays inside KVM_RUN: a boot CPU
                // halted with interrupts off is found here instead.
                if !applicationProcessors.isEmpty && vcpu.isHaltedForGood() { return .haltedForGood }
                return .deadlinePassed
            }
            // Another vCPU has an exit for this thread: the loop takes it.
            if applicationProcessors.contains(where: \.hasExit) { return nil }
            // A kick (a snapshot request, a wake): the caller has something to do.
            return .wantsAttention
        // The kernel waits for input at the input-wait port: a `hlt` means
        // no interrupt will come (there is no LAPIC without several CPUs).
        case .halt: return .haltedForGood
        case .debug(let exit):
            // A `hlt` stepped over while a watchpoint is set: as a KVM_EXIT_HLT.
            return try debugger.debugExit(exit, cpu: cpu) ? .haltedForGood : nil
        case .mmio(let access): return .mmio(access)
        case .shutdown: return .tripleFault
        case .failEntry(let reason): return .failEntry(hardwareReason: reason)
        case .internalError(let suberror): return .internalError(suberror: suberror)
        case .systemEvent(let type): return .systemEvent(type: type)
        case .other(let reason): return .unknownExit(reason: reason)
        }
    }

    /// Runs `body` with every vCPU out of the guest (the boot CPU is, on
    /// this thread), as a snapshot or a restore needs them; the others go
    /// on after it.
    func withEveryCPUOut<R>(_ body: () throws -> R) throws -> R {
        for processor in applicationProcessors { processor.pause() }
        defer { for processor in applicationProcessors { processor.unpause() } }
        return try body()
    }

    /// Puts every vCPU (and the irqchip) back as `snapshot` had them: the
    /// irqchip first, then each vCPU, whose local APIC is in its state.
    /// The caller has them all out of the guest (`withEveryCPUOut`); exits
    /// they took before and the machine's thread did not yet take are of
    /// states that are gone, and a failure's pause ends with the rewind.
    func restoreCPUs(_ snapshot: GuestSnapshot) throws {
        try Self.restoreCPUs(snapshot, vm: vm, vcpus: vcpus)
        for processor in applicationProcessors { processor.discardExit() }
        if pausedByFailure {
            pausedByFailure = false
            for processor in applicationProcessors { processor.unpause() }
        }
    }

    private static func restoreCPUs(_ snapshot: GuestSnapshot, vm: VirtualMachine, vcpus: [VCPU]) throws {
        do {
            if let chips = snapshot.interruptController { try vm.restoreInterruptController(chips) }
            for (vcpu, state) in zip(vcpus, snapshot.vcpus) { try vcpu.restoreState(state) }
        } catch {
            throw SnapshotError.vcpu(error)
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
                         + GDBHelpers.attachCommand(port: bound, kernelPath: "guest.elf")
                         + " (`swift run kvmhost kernel-path` prints where guest.elf is; or: swift run kvmhost gdb \(bound))")
            try debugger.serve(.failure, cpu: stoppedCPU)
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
        var vcpus: [VCPU] = []
        if let snapshot {
            let digest = KernelDigest.of(kernel)
            guard snapshot.kernelDigest == digest else { throw SnapshotError.differentKernel(snapshot: snapshot.kernelDigest, guest: digest) }
            guard configuration.cpuCount == snapshot.cpuCount else {
                throw SnapshotError.differentCPUCount(snapshot: snapshot.cpuCount, guest: configuration.cpuCount)
            }
            let memory = try GuestMemory(copyOnWriteOf: snapshot.memoryFile, ram: snapshot.ram)
            vm = try VirtualMachine(kvm: kvm, ram: snapshot.ram, memory: memory)
            if snapshot.cpuCount > 1 { try vm.createInterruptController() }
            for index in 0..<snapshot.cpuCount { vcpus.append(try vm.createVCPU(id: index, cpu: configuration.cpu)) }
            try restoreCPUs(snapshot, vm: vm, vcpus: vcpus)
        } else {
            vm = try VirtualMachine(kvm: kvm, ram: configuration.ramRanges, memory: nil, backing: configuration.memoryBacking)
            try image.load(into: vm.memory, map: memoryMap, keepingFree: PVHBoot.bootInfoRange, memoryIsZeroed: true)
            try PVHBoot.writeStartInfo(map: memoryMap, cpuCount: configuration.cpuCount, into: vm.memory)
            // Several CPUs need the in-kernel LAPIC (IPIs, INIT-SIPI-SIPI),
            // made before the vCPUs. One CPU runs without it: then a `hlt`
            // exits to the host, and a restore has no LAPIC state to put back.
            if configuration.cpuCount > 1 { try vm.createInterruptController() }
            for index in 0..<configuration.cpuCount {
                vcpus.append(try vm.createVCPU(id: index, cpu: configuration.cpu))
            }
            try PVHBoot.setInitialState(of: vcpus[0], entry: image.pvhEntry)
        }
        return (KVMMachine(vm: vm, vcpus: vcpus, serial: serial, memoryMap: memoryMap), memoryMap)
    }
}
