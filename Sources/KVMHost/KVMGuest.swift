import GuestProtocol

/// A guest on this machine's KVM, with what only KVM gives: snapshots and
/// restores, the gdb remote stub, the VM and vCPU, the port trace. A
/// feature that needs KVM is a member of this type, so code that holds a
/// `LiveGuest` of either backend cannot ask for it by mistake.
///
///     let guest = try KVMGuest(kernel: GuestImage.kernel())
///     _ = try guest.boot()
///     let ready = try guest.snapshot()
public final class KVMGuest: LiveGuest {
    /// The VM, its vCPU and its devices.
    public let kvm: KVMMachine
    public var vm: VirtualMachine { kvm.vm }
    public var vcpu: VCPU { kvm.vcpu }
    /// Every vCPU's registers, by index (the boot CPU's first), each read
    /// with every vCPU out of the guest: a vCPU in KVM_RUN cannot be read.
    public func cpuStates() throws -> [CPUState?] {
        try kvm.withEveryCPUOut { kvm.vcpus.map { $0.snapshot() } }
    }
    /// The gdb remote stub, idle until `attachDebugger` or `debugger.listen`.
    public var debugger: GuestDebugger { kvm.debugger }
    /// Called for every port access once it is handled (a read's value is
    /// then in place), and for one no device claims.
    public var portTrace: ((PortAccess) -> Void)? {
        get { kvm.portTrace }
        set { kvm.portTrace = newValue }
    }

    /// Snapshots asked for while the guest runs (the console's Ctrl-A s and
    /// Ctrl-A r): taken, or rewound to, between two runs of the vCPU.
    public let snapshotRequests: SnapshotRequests
    /// What became of each request, for the console: one line.
    public var snapshotReport: ((String) -> Void)?
    /// The snapshot the console's requests take and rewind to.
    var consoleSnapshot: GuestSnapshot?
    /// The snapshot guest memory matches but for the pages written since
    /// (the dirty log's): the one a restore copies only those pages of.
    var snapshotBaseline: GuestSnapshot?
    /// `KernelDigest` of the kernel, worked out at the first snapshot.
    private(set) lazy var kernelDigest = KernelDigest.of(kernel)

    override public var consoleInput: ConsoleInput? {
        didSet {
            debugger.setWake { [weak consoleInput] in consoleInput?.wake() }
            kvm.applicationProcessorExit.set { [weak consoleInput] in consoleInput?.wake() }
            snapshotRequests.input = consoleInput
        }
    }

    /// A guest booting `kernel` on KVM; `configuration.backend` must be kvm.
    public convenience init(kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        try self.init(kernel: kernel, configuration: configuration, from: nil)
    }

    /// A new VM that goes on from `snapshot` (of a guest of the same
    /// `kernel`): its memory maps the snapshot's copy-on-write, so pages are
    /// shared until the guest writes them. It runs without KVM's dirty log
    /// (and its write faults) until its first snapshot or restore, so its
    /// first restore copies all of memory. The configuration's memory size is
    /// the snapshot's, and so are its CPU count and its CPU: a configuration
    /// that names other CPU features is refused (`SnapshotError.differentCPU`).
    public convenience init(snapshot: GuestSnapshot, kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        var configuration = configuration
        if configuration.cpu.isDefault {
            configuration.cpu = snapshot.cpuFeatures
        } else if !configuration.cpu.selectsTheSame(as: snapshot.cpuFeatures) {
            throw SnapshotError.differentCPU(snapshot: snapshot.cpuFeatures, guest: configuration.cpu)
        }
        // The snapshot's memory file backs it, copy-on-write.
        guard configuration.memoryBacking == .anonymous else { throw SnapshotError.backedByItsFile(configuration.memoryBacking) }
        configuration.ram = snapshot.ram
        configuration.memorySize = snapshot.ramPages * pageBytes
        configuration.cpuCount = snapshot.cpuCount
        try self.init(kernel: kernel, configuration: configuration, from: snapshot)
    }

    /// Both ways in: a VM booting `kernel`, or going on from `snapshot`.
    private init(kernel: [UInt8], configuration: Configuration, from snapshot: GuestSnapshot?) throws {
        guard configuration.backend == .kvm else { throw ConfigurationError.kvmGuestOnAnotherBackend(configuration.backend) }
        try configuration.validate()
        let image = try ELFImage(bytes: kernel)
        let serial = Serial16550()
        let (machine, map) = try KVMMachine.boot(kernel: kernel, image: image, configuration: configuration, serial: serial, from: snapshot)
        kvm = machine
        snapshotRequests = SnapshotRequests(stop: machine.stopHandle)
        try super.init(kernel: kernel, image: image, configuration: configuration, machine: machine, memoryMap: map, serial: serial)
        if let snapshot { restoreHostState(snapshot.host, serial: snapshot.serial) }
    }

    /// Opens the gdb remote stub on 127.0.0.1:`port` (0: a free port) and
    /// returns the port. With `waitForDebugger`, the guest stops before its
    /// first instruction until a debugger attaches and continues it. While a
    /// debugger can attach, runs have no deadline: the person debugging decides.
    @discardableResult
    public func attachDebugger(port: UInt16, waitForDebugger: Bool = false) throws -> UInt16 {
        let bound = try debugger.listen(port: port)
        kvm.waitForDebuggerAtStart = waitForDebugger
        return bound
    }

    override func betweenRuns() {
        serveSnapshotRequest()
    }
}
