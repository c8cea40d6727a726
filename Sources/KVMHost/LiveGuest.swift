import Foundation
import GuestProtocol

/// A guest kernel booted on its own VM: the object tests and the CLI use.
/// It loads an ELF with a PVH entry, runs the vCPU on the calling thread,
/// routes its port I/O, and turns everything the guest reports into values,
/// or into a `GuestFailure` that says what went wrong.
///
///     let guest = try LiveGuest(kernel: GuestImage.kernel())
///     let ready = try guest.boot()
///     let values = try guest.call(Echo([1, 2, 3]))
///     let status = try guest.shutdown()
///
/// Every call's `timeout` is a deadline for the whole call, however many
/// records the guest sends on the way.
public final class LiveGuest {
    public struct Configuration: Sendable {
        /// KVM, or QEMU TCG: the same guest, the same calls and reports.
        public var backend: Backend
        /// Bytes of RAM. Laid out as QEMU's pc machine does (`GuestRAM`),
        /// unless `ram` says where it lies.
        public var memorySize: Int
        /// RAM at these guest-physical ranges instead (kvm only): sorted,
        /// disjoint, page-aligned, the first from 0, `memorySize` bytes in
        /// all, at most `GuestRAM.maximumRanges`. A machine as fragmented as
        /// real ones are, with RAM above 4 GiB in a small guest.
        public var ram: [Range<UInt64>]?
        /// Extra ranges of guest memory marked reserved in the memory map.
        public var memoryHoles: [Range<UInt64>]
        /// CPU features given and taken away against the backend's CPU (KVM's
        /// supported CPUID, QEMU's qemu64): `--cpu +smep,-nx`.
        public var cpu = CPUSelection()
        /// What backs guest RAM on the host (kvm only): ordinary pages,
        /// transparent huge pages, or the hugetlb pool.
        public var memoryBacking = MemoryBacking.anonymous
        public var kvmPath: String
        /// Page-trap and program reports kept, at least, of each (see
        /// `pageTraps`): 1 to `maximumReportLimit`.
        public var reportLimit: Int

        public static let maximumReportLimit = 1 << 32

        public init(backend: Backend = .kvm, memorySize: Int = VirtualMachine.defaultMemorySize, memoryHoles: [Range<UInt64>] = [],
                    kvmPath: String = "/dev/kvm", reportLimit: Int = 1 << 20) {
            self.backend = backend
            self.memorySize = memorySize
            self.ram = nil
            self.memoryHoles = memoryHoles
            self.kvmPath = kvmPath
            self.reportLimit = reportLimit
        }

        /// RAM at `ram`, `memorySize` its total.
        public init(backend: Backend = .kvm, ram: [Range<UInt64>], memoryHoles: [Range<UInt64>] = [], kvmPath: String = "/dev/kvm",
                    reportLimit: Int = 1 << 20) {
            self.init(backend: backend, memorySize: Int(truncatingIfNeeded: ram.reduce(0) { $0 &+ ($1.upperBound &- $1.lowerBound) }),
                      memoryHoles: memoryHoles, kvmPath: kvmPath, reportLimit: reportLimit)
            self.ram = ram
        }

        /// Where the RAM lies: `ram`, or QEMU pc's layout of `memorySize`.
        public var ramRanges: [Range<UInt64>] {
            if let ram { return ram }
            return GuestRAM.rangeList(bytes: UInt64(memorySize))
        }

        private static func validate(ram: [Range<UInt64>], memorySize: Int) throws(ConfigurationError) {
            func refuse(_ problem: String) -> ConfigurationError { .ramLayout(problem) }
            guard !ram.isEmpty, ram.count <= GuestRAM.maximumRanges else {
                throw refuse("it must have 1 to \(GuestRAM.maximumRanges) ranges, not \(ram.count)")
            }
            guard ram[0].lowerBound == 0 else { throw refuse("the first range must start at 0, where the boot information goes") }
            var total: UInt64 = 0
            for (index, range) in ram.enumerated() {
                let name = "range \(index) [\(hex(range.lowerBound)), \(hex(range.upperBound)))"
                guard !range.isEmpty else { throw refuse("\(name) is empty") }
                guard range.lowerBound % 4096 == 0, range.upperBound % 4096 == 0 else { throw refuse("\(name) does not start and end on 4 KiB pages") }
                guard range.upperBound <= GuestRAM.maximumEnd else { throw refuse("\(name) ends above \(hex(GuestRAM.maximumEnd))") }
                if index > 0 {
                    guard ram[index - 1].upperBound <= range.lowerBound else { throw refuse("\(name) is not above the range before it") }
                }
                total += range.upperBound - range.lowerBound
            }
            guard total == UInt64(memorySize) else { throw refuse("its ranges hold \(total) bytes, memorySize says \(memorySize)") }
        }

        /// Every value checked, in one place, before anything is built from
        /// them: `LiveGuest.init` calls it, so a value set after `init` is
        /// checked too.
        public func validate() throws(ConfigurationError) {
            if let ram {
                guard backend == .kvm else { throw .ramLayoutNeedsKVM }
                try Self.validate(ram: ram, memorySize: memorySize)
            }
            guard (VirtualMachine.minimumMemorySize...VirtualMachine.maximumMemorySize).contains(memorySize) else {
                throw .memorySizeOutOfRange(bytes: memorySize)
            }
            guard memorySize % 4096 == 0 else { throw .memorySizeNotWholePages(bytes: memorySize) }
            guard (1...Self.maximumReportLimit).contains(reportLimit) else { throw .reportLimitOutOfRange(reportLimit) }
            do { try cpu.validate() } catch { throw .cpu(error) }
            // QEMU's pc machine lays out its own memory map; it takes no holes.
            guard backend == .kvm || memoryHoles.isEmpty else { throw .memoryHolesNeedKVM }
            guard backend == .kvm || memorySize % (1 << 20) == 0 else { throw .memorySizeNotWholeMiB(bytes: memorySize) }
            guard backend == .kvm || memoryBacking == .anonymous else { throw .memoryBacking(.needsKVM(memoryBacking)) }
        }
    }

    /// A configuration value that cannot be used, and why.
    public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
        case memorySizeOutOfRange(bytes: Int)
        case memorySizeNotWholePages(bytes: Int)
        case reportLimitOutOfRange(Int)
        case memoryHolesNeedKVM
        case memorySizeNotWholeMiB(bytes: Int)
        /// `ram` is not a layout this host builds: why.
        case ramLayout(String)
        case ramLayoutNeedsKVM
        case cpu(CPUFeatureError)
        case memoryBacking(MemoryBackingError)

        public var description: String {
            switch self {
            case .memorySizeOutOfRange(let bytes):
                return "guest memory of \(bytes) bytes is not possible: it must lie between "
                    + "\(VirtualMachine.minimumMemorySize >> 20) MiB and \(VirtualMachine.maximumMemorySize >> 20) MiB"
            case .memorySizeNotWholePages(let bytes):
                return "guest memory of \(bytes) bytes is not a whole number of 4 KiB pages"
            case .reportLimitOutOfRange(let limit):
                return "reportLimit \(limit) must lie between 1 and \(Configuration.maximumReportLimit)"
            case .memoryHolesNeedKVM:
                return "memory holes need the kvm backend: under tcg, QEMU's pc machine lays out the memory map itself"
            case .memorySizeNotWholeMiB(let bytes):
                return "guest memory of \(bytes) bytes is not a whole number of MiB, as QEMU (the tcg backend) takes it"
            case .ramLayout(let problem):
                return "the RAM layout cannot be built: \(problem)"
            case .cpu(let error):
                return "the CPU cannot be built: \(error)"
            case .memoryBacking(let error):
                return "guest RAM cannot be backed so: \(error)"
            case .ramLayoutNeedsKVM:
                return "a RAM layout needs the kvm backend: under tcg, QEMU's pc machine lays out RAM itself"
            }
        }
    }

    public static let defaultTimeout: Duration = .seconds(10)

    public let configuration: Configuration
    /// The kernel image, kept (shared, not copied) for its digest.
    private let kernel: [UInt8]
    /// `KernelDigest` of `kernel`, worked out at the first snapshot.
    private(set) lazy var kernelDigest = KernelDigest.of(kernel)
    public var backend: Backend { configuration.backend }
    /// Guest-physical memory, bounds-checked, on either backend.
    public let memory: GuestMemory
    /// The VM and its vCPU on the kvm backend; nil on tcg.
    public let vm: VirtualMachine?
    public let vcpu: VCPU?
    private let qemu: QEMUMachine?
    /// The memory map the guest was given: the one KVMHost wrote on kvm;
    /// on tcg QEMU's firmware writes it, and it is known from the ready report.
    public private(set) var memoryMap: PhysicalMemoryMap
    /// The guest's console: on kvm the emulated COM1; on tcg the text the
    /// guest sends as console records and writes to QEMU's COM1.
    public let serial: Serial16550
    private let channel: ReportChannelDevice
    private let exitPort: ExitPort
    private let bus = PortBus()
    /// The kernel's symbols, for the backtraces of failure reports.
    public let symbols: GuestSymbols
    /// The gdb remote stub, idle until `attachDebugger` or `debugger.listen`;
    /// nil on tcg (QEMU has a gdbstub of its own).
    public let debugger: GuestDebugger?
    /// Where the kernel keeps its coverage counters: nil unless it was built
    /// for coverage (guest-coverage.elf).
    public let profileSections: ProfileSections?
    private var waitForDebuggerAtStart = false
    private var queued: [GuestReport] = []
    private var commandBuffer: (address: UInt64, capacity: UInt64)?
    private var commandSequence: UInt32 = 0

    /// Where console input comes from. With none, a guest that halts with
    /// nothing to wake it is a failure; with one, a halt means "waiting for
    /// input", and the host blocks on this source until it has some.
    public var consoleInput: ConsoleInput? {
        didSet {
            debugger?.setWake { [weak consoleInput] in consoleInput?.wake() }
            snapshotRequests.input = consoleInput
        }
    }
    private var inputEnded = false

    /// Page-trap decisions and values user programs reported, in order: the
    /// newest `configuration.reportLimit` of each at least. A guest that
    /// floods them costs bounded memory even with no deadline;
    /// `droppedReports` counts the oldest ones let go.
    public private(set) var pageTraps: [PageTrapReport] = []
    public private(set) var programReports: [UInt64] = []
    public private(set) var droppedReports = 0
    /// Expectations of in-kernel test cases that failed, in order (kept as
    /// page traps are).
    public private(set) var expectationFailures: [AssertionReport] = []

    /// Called for every port access once it is handled (a read's value is
    /// then in place), and for one no device claims.
    public var portTrace: ((PortAccess) -> Void)?

    /// The guest's exit status, once it has written one.
    public var exitStatus: UInt32? { exitPort.status }

    public convenience init(kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        try self.init(kernel: kernel, configuration: configuration, from: nil)
    }

    /// A new VM that goes on from `snapshot` (of a guest of the same
    /// `kernel`): its memory maps the snapshot's copy-on-write, so pages are
    /// shared until the guest writes them. It runs without KVM's dirty log
    /// (and its write faults) until its first snapshot or restore, so its
    /// first restore copies all of memory. The configuration's memory size is
    /// the snapshot's, and so is its CPU: a configuration that names other
    /// CPU features is refused (`SnapshotError.differentCPU`); the backend is kvm.
    public convenience init(snapshot: GuestSnapshot, kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        var configuration = configuration
        guard configuration.backend == .kvm else { throw SnapshotError.needsKVM }
        if configuration.cpu.isDefault {
            configuration.cpu = snapshot.cpuFeatures
        } else if !configuration.cpu.selectsTheSame(as: snapshot.cpuFeatures) {
            throw SnapshotError.differentCPU(snapshot: snapshot.cpuFeatures, guest: configuration.cpu)
        }
        // The snapshot's memory file backs it, copy-on-write.
        guard configuration.memoryBacking == .anonymous else { throw SnapshotError.backedByItsFile(configuration.memoryBacking) }
        configuration.ram = snapshot.ram
        configuration.memorySize = snapshot.ramPages * 4096
        try self.init(kernel: kernel, configuration: configuration, from: snapshot)
    }

    private init(kernel: [UInt8], configuration: Configuration, from snapshot: GuestSnapshot?) throws {
        try configuration.validate()
        self.configuration = configuration
        self.kernel = kernel
        let image = try ELFImage(bytes: kernel)
        symbols = GuestSymbols(elf: kernel)
        profileSections = try ProfileSections(image: image)
        switch configuration.backend {
        case .kvm:
            memoryMap = try PhysicalMemoryMap(ram: configuration.ramRanges, holes: configuration.memoryHoles)
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
            self.vm = vm
            self.vcpu = vcpu
            memory = vm.memory
            qemu = nil
            debugger = GuestDebugger(vcpu: vcpu, memory: vm.memory, memoryMap: memoryMap)
        case .tcg:
            // QEMU loads the image and writes the start info itself.
            let qemu = try QEMUMachine(kernel: kernel, memorySize: configuration.memorySize, cpu: configuration.cpu.qemuModel())
            memoryMap = PhysicalMemoryMap(reported: [])
            memory = qemu.memory
            self.qemu = qemu
            vm = nil
            vcpu = nil
            debugger = nil
        }
        snapshotRequests = SnapshotRequests(stop: self.vcpu?.stopHandle ?? self.qemu!.stopHandle)
        serial = Serial16550()
        channel = ReportChannelDevice(memory: memory)
        exitPort = ExitPort()
        bus.attach(serial)
        bus.attach(channel)
        bus.attach(exitPort)
        if let snapshot {
            restoreHostState(snapshot.host, serial: snapshot.serial)
        }
    }

    deinit {
        debugger?.close()
        // Under scripts/coverage every instrumented guest leaves its profile.
        if profileSections != nil, let path = CoverageDirectory.nextFile() {
            do {
                try writeCoverageProfile(to: path)
            } catch {
                writeToStandardError("kvmhost: \(error)\n")
            }
        }
    }

    /// Opens the gdb remote stub on 127.0.0.1:`port` (0: a free port) and
    /// returns the port. With `waitForDebugger`, the guest stops before its
    /// first instruction until a debugger attaches and continues it. While a
    /// debugger can attach, runs have no deadline: the person debugging decides.
    @discardableResult
    public func attachDebugger(port: UInt16, waitForDebugger: Bool = false) throws -> UInt16 {
        guard let debugger else { throw DebuggerError.needsKVM }
        let bound = try debugger.listen(port: port)
        waitForDebuggerAtStart = waitForDebugger
        return bound
    }

    /// The environment variable that makes a failing run wait for a
    /// debugger on the port it names before the failure is reported.
    public static let debugOnFailureVariable = "KVMHOST_GDB_ON_FAILURE"

    /// Stops the guest from any thread: the run in progress (or the next)
    /// ends with `GuestFailure.Kind.stoppedByUser` within milliseconds,
    /// however busy the guest is.
    public var stopHandle: VCPUStopHandle { vcpu?.stopHandle ?? qemu!.stopHandle }

    /// Runs the guest until its ready report, all within `timeout`.
    public func boot(timeout: Duration = LiveGuest.defaultTimeout) throws -> ReadyReport {
        let deadline = Deadline(after: timeout)
        switch try nextEvent(deadline) {
        case .report(.ready(let ready)):
            if ready.droppedMemoryRanges > 0 { throw failure(.memoryMapNotTaken(droppedRanges: ready.droppedMemoryRanges)) }
            if qemu != nil { memoryMap = PhysicalMemoryMap(reported: ready.memoryMap.entries) }
            try checkCPU(deadline)
            return ready
        case .report(let other): throw failure(.unexpectedReport("\(other) before the ready report"))
        case .exited(let status): throw failure(.exited(status: status))
        }
    }

    /// A CPU selection holds only if the guest's CPUID shows it: a feature
    /// the backend could not give or take away fails the boot by name
    /// rather than run checks under a CPU nobody asked for.
    private func checkCPU(_ deadline: Deadline) throws {
        guard !configuration.cpu.isDefault else { return }
        let features = try call(ReadCPU(), deadline: deadline).features
        if let (feature, guestHasIt) = configuration.cpu.disagreement(withGuestFeatures: features) {
            throw CPUFeatureError.notHonoured(feature, backend: backend, guestHasIt: guestHasIt)
        }
    }

    /// Sends `call` and runs the guest until it replies: waiting for the
    /// guest to take it and for its reply, all within `timeout`. Returns the
    /// call's typed reply; throws `GuestCallError` when the kernel refused or
    /// failed the call, and `GuestFailure` when the run itself went wrong.
    public func call<Call: GuestCall>(_ call: Call, timeout: Duration = LiveGuest.defaultTimeout) throws -> Call.Reply {
        try self.call(call, deadline: Deadline(after: timeout))
    }

    /// `call`, within a deadline several calls share.
    func call<Call: GuestCall>(_ call: Call, deadline: Deadline) throws -> Call.Reply {
        let sequence = try send(call, deadline)
        let reply: GuestReply
        switch try nextEvent(deadline) {
        case .report(.reply(let received)): reply = received
        case .report(let other): throw failure(.unexpectedReport("\(other) instead of a reply to \(Call.code)"))
        case .exited(let status): throw failure(.exited(status: status))
        }
        guard reply.callSequence == sequence else {
            throw failure(.unexpectedReport("a reply to call \(reply.callSequence), expected \(sequence)"))
        }
        return try reply.decode(Call.self)
    }

    /// Asks the guest to exit with `status` and returns the status it exited
    /// with, all within `timeout`.
    @discardableResult
    public func shutdown(status: UInt32 = ExitStatus.success, timeout: Duration = LiveGuest.defaultTimeout) throws -> UInt32 {
        let deadline = Deadline(after: timeout)
        try send(Shutdown(status: status), deadline)
        switch try nextEvent(deadline) {
        case .exited(let status): return status
        case .report(let other): throw failure(.unexpectedReport("\(other) instead of exiting"))
        }
    }

    /// Runs the guest until it exits, answering each command request with the
    /// next of `calls` (their replies unread), then with `Shutdown(status: 0)`.
    /// Returns the exit status. `timeout` holds for the whole run, however
    /// many records the guest sends.
    public func runToExit(calls: [any GuestCall] = [], timeout: Duration = LiveGuest.defaultTimeout) throws -> UInt32 {
        let deadline = Deadline(after: timeout)
        var remaining = calls[...]
        var checkCPUFirst = false
        while true {
            switch try nextEvent(deadline) {
            case .exited(let status): return status
            case .report(.ready): checkCPUFirst = !configuration.cpu.isDefault
            case .report(.awaitCommand) where checkCPUFirst:
                checkCPUFirst = false
                try checkCPU(deadline)
            case .report(.awaitCommand):
                let next: any GuestCall = remaining.popFirst() ?? Shutdown(status: ExitStatus.success)
                try send(next, deadline)
            case .report: continue
            }
        }
    }

    // MARK: - The run loop

    enum Event {
        case report(GuestReport)
        case exited(UInt32)
    }

    /// Writes `call` into the buffer the guest offered, first running the
    /// guest until it offers one. Returns the call's sequence number.
    @discardableResult
    private func send(_ call: some GuestCall, _ deadline: Deadline) throws -> UInt32 {
        while commandBuffer == nil {
            switch try nextEvent(deadline) {
            case .report(.awaitCommand): break
            case .report(let other): throw failure(.unexpectedReport("\(other) while waiting to send a command"))
            case .exited(let status): throw failure(.exited(status: status))
            }
        }
        let buffer = commandBuffer!
        // The record is built on the host, then copied: its length is known
        // before a byte of guest memory is written.
        var bytes = [UInt8](repeating: 0, count: recordMaximumSize)
        let length = try bytes.withUnsafeMutableBytes { raw -> Int in
            var encoder = RecordWriter(base: raw.baseAddress!, capacity: raw.count, kind: .command, sequence: commandSequence &+ 1)
            encoder.word(type(of: call).code.rawValue)
            encoder.encode(call)
            guard encoder.complete else { throw GuestCallError(call: type(of: call).code, reason: .argumentsTooLong) }
            return encoder.finish()
        }
        guard buffer.capacity >= UInt64(length), memory.contains(buffer.address, length: UInt64(length)) else {
            throw failure(.channel(.badCommandBuffer(address: buffer.address, capacity: buffer.capacity)))
        }
        try memory.write(Array(bytes[..<length]), at: buffer.address)
        commandBuffer = nil
        commandSequence &+= 1
        return commandSequence
    }

    /// Runs the vCPU until the guest sends a record or exits, before
    /// `deadline`. While the guest waits for a command the vCPU stays
    /// parked, and this answers `.awaitCommand` again without running it.
    func nextEvent(_ deadline: Deadline) throws -> Event {
        if !queued.isEmpty { return .report(queued.removeFirst()) }
        if let status = exitPort.status { return .exited(status) }
        if let buffer = commandBuffer { return .report(.awaitCommand(AwaitCommandRecord(bufferPhysical: buffer.address, capacity: buffer.capacity))) }
        if stopHandle.isRequested { throw failure(.stoppedByUser) }
        if let qemu {
            if deadline.hasPassed { throw failure(.timeout(deadline.timeout)) }
            while true {
                serveSnapshotRequest()
                let stop: QEMUMachine.Stop
                do {
                    stop = try qemu.run(until: deadline)
                } catch let error as ChannelError {
                    throw failure(.channel(error))
                }
                if let event = try handle(stop, on: qemu, deadline) { return event }
            }
        }
        guard let vcpu, let debugger else { fatalError("a kvm guest has a vCPU") }
        if waitForDebuggerAtStart {
            waitForDebuggerAtStart = false
            try debugger.serve(.paused)
        }
        let deadline = debugger.isActive ? Deadline.never : deadline
        if deadline.hasPassed { throw failure(.timeout(deadline.timeout)) }
        return try vcpu.withWatchdog(deadline: deadline) {
            while true {
                serveSnapshotRequest()
                let exit = try vcpu.run()
                if let event = try handle(exit, vcpu, debugger, deadline) { return event }
            }
        }
    }

    /// What QEMU reported, handled as the KVM exit it stands for: a record
    /// frame as the report port's `out`, an exit frame as the exit port's, a
    /// wait for input as a `hlt`.
    private func handle(_ stop: QEMUMachine.Stop, on qemu: QEMUMachine, _ deadline: Deadline) throws -> Event? {
        switch stop {
        case .record(let address):
            do {
                try channel.write(port: GuestPort.report, size: 4, value: address)
            } catch let error as ChannelError {
                serial.flush()
                throw failure(.channel(error))
            }
            return try take(channel.takeReceived())
        case .exit(let status):
            try exitPort.write(port: GuestPort.exit, size: 4, value: status)
            return try take([])
        case .ended(let exitCode):
            // isa-debug-exit makes QEMU's status `status << 1 | 1`; the
            // entry's CPU check exits this way, before the link is up.
            guard exitCode & 1 == 1 else { throw failure(.qemuEnded(exitCode: exitCode)) }
            try exitPort.write(port: GuestPort.exit, size: 4, value: UInt32(exitCode >> 1))
            return try take([])
        case .console(let bytes):
            serial.receiveConsoleText(bytes)
            serial.flush()
            return nil
        case .wantsInput:
            if let bytes = try waitForConsoleInput(deadline) { try qemu.sendConsoleInput(bytes) }
            return nil
        case .shutdown(let reason):
            throw failure(reason == "guest-reset" ? .tripleFault : .qemuShutdown(reason: reason))
        case .interrupted:
            if stopHandle.isRequested { throw failure(.stoppedByUser) }
            throw failure(.timeout(deadline.timeout))
        }
    }

    /// What a guest waiting for console input gets: bytes, or the
    /// end-of-input byte once; nil when it was woken for another reason.
    private func waitForConsoleInput(_ deadline: Deadline) throws -> [UInt8]? {
        guard let input = consoleInput else { throw failure(.halted) }
        if inputEnded { throw failure(.halted) }
        switch input.waitForInput(until: deadline) {
        case .bytes(let bytes): return bytes
        case .endOfInput:
            inputEnded = true
            return [endOfInputByte]
        case .timedOut: throw failure(.timeout(deadline.timeout))
        case .quit: throw failure(.stoppedByUser)
        case .woken: return nil  // the next run sees why (a pause for the debugger)
        }
    }

    private func handle(_ exit: VCPUExit, _ vcpu: VCPU, _ debugger: GuestDebugger, _ deadline: Deadline) throws -> Event? {
        switch exit {
        case .portIO(let access):
            // After the device answered, so that a read's value is traced too.
            defer { portTrace?(access) }
            do {
                try bus.handle(access)
            } catch let error as UnclaimedPortError {
                serial.flush()
                throw failure(.unexpectedPort(port: error.port, direction: error.direction, size: error.size))
            } catch let error as ChannelError {
                serial.flush()
                throw failure(.channel(error))
            }
            return try take(channel.takeReceived())
        case .interrupted:
            if vcpu.stopHandle.isRequested { throw failure(.stoppedByUser) }
            if try debugger.pauseIfRequested() { return nil }
            if vcpu.watchdogFired || deadline.hasPassed { throw failure(.timeout(deadline.timeout)) }
            return nil
        case .halt:
            if let bytes = try waitForConsoleInput(deadline) { serial.enqueueInput(bytes) }
            return nil
        case .debug(let exit):
            try debugger.debugExit(exit)
            return nil
        case .mmio(let access): throw failure(.mmio(access))
        case .shutdown: throw failure(.tripleFault)
        case .failEntry(let reason): throw failure(.failEntry(hardwareReason: reason))
        case .internalError(let suberror): throw failure(.internalError(suberror: suberror))
        case .systemEvent(let type): throw failure(.systemEvent(type: type))
        case .other(let reason): throw failure(.unexpectedExit(reason: reason))
        }
    }

    /// The records the channel received (and the exit port's status), kept,
    /// queued or turned into failures, the same on both backends.
    private func take(_ received: [GuestReport]) throws -> Event? {
            for case .console(let text) in received { serial.receiveConsoleText(text) }
            serial.flush()
            if let status = exitPort.status {
                if status == ExitStatus.nestedException { throw failure(.nestedException) }
                if status == ExitStatus.missingCPUFeature {
                    // The entry's one line says which, before any record could.
                    throw failure(.missingCPUFeature(serial.text.split(separator: "\n").last { $0.hasPrefix("guest kernel: the CPU has no") }.map(String.init) ?? ""))
                }
                debugger?.runEnded(exitStatus: status)
                return .exited(status)
            }
            for report in received {
                switch report {
                case .console: continue
                case .pageTrap(let trap):
                    keep(trap, in: &pageTraps)
                    continue
                case .programReport(let value):
                    keep(value, in: &programReports)
                    continue
                case .expectationFailed(let report):
                    keep(report, in: &expectationFailures)
                    continue
                case .exception(let report): throw failure(.exception(report))
                case .assertion(let report): throw failure(.assertion(report))
                case .panic(let report): throw failure(.panic(report))
                case .awaitCommand(let waiting): commandBuffer = (waiting.bufferPhysical, waiting.capacity)
                case .ready, .reply: break
                }
                queued.append(report)
            }
            return queued.isEmpty ? nil : .report(queued.removeFirst())
    }

    /// The host's side of the guest between two events, for snapshots.
    struct HostState {
        var memoryMap: PhysicalMemoryMap
        var queued: [GuestReport]
        var commandBuffer: (address: UInt64, capacity: UInt64)?
        var commandSequence: UInt32
        var inputEnded: Bool
        var pageTraps: [PageTrapReport]
        var programReports: [UInt64]
        var droppedReports: Int
        var expectationFailures: [AssertionReport]
        var exitStatus: UInt32?
    }

    var hostState: HostState {
        HostState(memoryMap: memoryMap, queued: queued, commandBuffer: commandBuffer, commandSequence: commandSequence,
                  inputEnded: inputEnded, pageTraps: pageTraps, programReports: programReports, droppedReports: droppedReports,
                  expectationFailures: expectationFailures, exitStatus: exitPort.status)
    }

    func restoreHostState(_ state: HostState, serial serialState: Serial16550.State) {
        memoryMap = state.memoryMap
        queued = state.queued
        commandBuffer = state.commandBuffer
        commandSequence = state.commandSequence
        inputEnded = state.inputEnded
        pageTraps = state.pageTraps
        programReports = state.programReports
        droppedReports = state.droppedReports
        expectationFailures = state.expectationFailures
        exitPort.status = state.exitStatus
        serial.restore(serialState)
    }

    /// Snapshots asked for while the guest runs (the console's Ctrl-A s and
    /// Ctrl-A r): taken, or rewound to, at the run loop's next stop.
    public let snapshotRequests: SnapshotRequests
    /// What became of each request, for the console: one line.
    public var snapshotReport: ((String) -> Void)?
    /// The snapshot the console's requests take and rewind to.
    var consoleSnapshot: GuestSnapshot?

    /// The snapshot guest memory matches but for the pages written since
    /// (the dirty log's): the one a restore copies only those pages of.
    var snapshotBaseline: GuestSnapshot?

    /// Appends, dropping the oldest half once the list holds twice the limit.
    private func keep<T>(_ element: T, in list: inout [T]) {
        list.append(element)
        let limit = configuration.reportLimit
        if list.count >= 2 * limit {
            list.removeFirst(limit)
            droppedReports += limit
        }
    }

    private func failure(_ kind: GuestFailure.Kind) -> GuestFailure {
        var walk: PageWalk?
        if case .exception(let report) = kind, report.vector == 14 {
            walk = try? PageWalker(memory: memory).walk(cr3: report.cr3, virtual: report.cr2)
        }
        let cpu = vcpu?.snapshot() ?? qemu?.cpuState()
        let failure = GuestFailure(kind: kind, cpu: cpu, consoleTail: serial.lastLines(20), walk: walk,
                                   backtrace: backtrace(of: kind, cpu: cpu), symbols: symbols)
        waitForDebuggerIfAsked(after: failure)
        debugger?.runEnded(exitStatus: nil)
        return failure
    }

    /// With KVMHOST_GDB_ON_FAILURE=PORT, a failure waits for a debugger to
    /// look at the guest as it failed, and is reported once it detaches.
    private func waitForDebuggerIfAsked(after failure: GuestFailure) {
        guard let debugger, failure.kind != .stoppedByUser,
              let text = ProcessInfo.processInfo.environment[Self.debugOnFailureVariable], let port = UInt16(text) else { return }
        do {
            let bound = try debugger.listen(port: port)
            debugger.log("the guest failed (\(escapingControlCharacters(failure.summary))); waiting for a debugger: "
                         + "gdb -ex 'target remote 127.0.0.1:\(bound)' guest.elf (`swift run kvmhost kernel-path` prints where guest.elf is)")
            try debugger.serve(.failure)
        } catch {
            debugger.log("\(error)")
        }
    }

    /// The failing context's stack: the trap frame's for an exception, the
    /// vCPU's otherwise, once the guest runs in long mode with paging.
    private func backtrace(of kind: GuestFailure.Kind, cpu: CPUState?) -> Backtrace? {
        if case .exception(let report) = kind {
            return Backtrace.walk(memory: memory, cr3: report.cr3, rip: report.rip, rbp: report.registers.rbp)
        }
        guard let cpu, cpu.cr0 & (1 << 31) != 0, cpu.efer & (1 << 10) != 0 else { return nil }
        let stack = Backtrace.walk(memory: memory, cr3: cpu.cr3, rip: cpu.rip, rbp: cpu.rbp)
        switch kind {
        case .panic, .assertion:
            // The vCPU is inside the channel's sending code (at the report
            // port's `out` on kvm, in the wait for COM2's acknowledgement on
            // tcg), perhaps called from the panic function: the stack of
            // interest starts in the code that panicked or asserted.
            let table = symbols.table
            return stack.startingAfter { address in
                guard let function = table.function(containing: address) else { return false }
                return Self.reportingSymbols.contains { function.symbol.name.contains($0) }
            }
        default:
            return stack
        }
    }

    /// What the mangled names of the kernel's reporting functions contain:
    /// `enum ReportChannel`, its COM2 transport `enum SerialLink` (where a
    /// tcg guest spins until the record is acknowledged) and `kernelPanic`,
    /// in module GuestKernel.
    static let reportingSymbols = ["11GuestKernel13ReportChannel", "11GuestKernel10SerialLink", "11GuestKernel11kernelPanic"]

    /// The host's walk of `virtual` through the page tables at `cr3`.
    public func walk(_ virtual: UInt64, cr3: UInt64) throws -> PageWalk {
        try PageWalker(memory: memory).walk(cr3: cr3, virtual: virtual)
    }
}
