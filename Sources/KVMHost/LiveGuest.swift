import GuestProtocol

/// A guest kernel booted on its own VM: the object tests and the CLI use.
/// It loads an ELF with a PVH entry, runs the vCPU on the calling thread,
/// routes its port I/O, and turns everything the guest reports into values,
/// or into a `GuestFailure` that says what went wrong.
///
///     let guest = try LiveGuest(kernel: GuestImage.kernel())
///     let ready = try guest.boot()
///     let reply = try guest.execute(.echo([1, 2, 3]))
///     let status = try guest.shutdown()
public final class LiveGuest {
    public struct Configuration: Sendable {
        public var memorySize: Int
        /// Extra ranges of guest memory marked reserved in the memory map.
        public var memoryHoles: [Range<UInt64>]
        public var kvmPath: String
        /// Page-trap and program reports kept, at least, of each (see `pageTraps`).
        public var reportLimit: Int

        public init(memorySize: Int = VirtualMachine.defaultMemorySize, memoryHoles: [Range<UInt64>] = [],
                    kvmPath: String = "/dev/kvm", reportLimit: Int = 1 << 20) {
            self.memorySize = memorySize
            self.memoryHoles = memoryHoles
            self.kvmPath = kvmPath
            self.reportLimit = max(reportLimit, 1)
        }
    }

    public static let defaultTimeout: Duration = .seconds(10)

    public let configuration: Configuration
    public let vm: VirtualMachine
    public let vcpu: VCPU
    public let memoryMap: PhysicalMemoryMap
    public let serial: Serial16550
    private let channel: ReportChannelDevice
    private let exitPort: ExitPort
    private let bus = PortBus()
    private var queued: [GuestReport] = []
    private var commandBuffer: (address: UInt64, capacity: UInt64)?
    private var commandSequence: UInt32 = 0

    /// Where console input comes from. With none, a guest that halts with
    /// nothing to wake it is a failure; with one, a halt means "waiting for
    /// input", and the host blocks on this source until it has some.
    public var consoleInput: ConsoleInput?
    private var inputEnded = false

    /// Page-trap decisions and values user programs reported, in order: the
    /// newest `configuration.reportLimit` of each at least. A guest that
    /// floods them costs bounded memory even with no deadline;
    /// `droppedReports` counts the oldest ones let go.
    public private(set) var pageTraps: [PageTrapReport] = []
    public private(set) var programReports: [UInt64] = []
    public private(set) var droppedReports = 0

    /// Called for every port access, for tracing.
    public var portTrace: ((PortAccess) -> Void)?

    /// The guest's exit status, once it has written one.
    public var exitStatus: UInt32? { exitPort.status }

    public init(kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        let image = try ELFImage(bytes: kernel)
        memoryMap = try PhysicalMemoryMap(memorySize: UInt64(configuration.memorySize), holes: configuration.memoryHoles)
        let kvm = try KVM(path: configuration.kvmPath)
        vm = try VirtualMachine(kvm: kvm, memorySize: configuration.memorySize)
        try image.load(into: vm.memory, map: memoryMap, keepingFree: PVHBoot.bootInfoRange, memoryIsZeroed: true)
        try PVHBoot.writeStartInfo(map: memoryMap, into: vm.memory)
        vcpu = try vm.createVCPU()
        try PVHBoot.setInitialState(of: vcpu, entry: image.pvhEntry)
        serial = Serial16550()
        channel = ReportChannelDevice(memory: vm.memory)
        exitPort = ExitPort()
        bus.attach(serial)
        bus.attach(channel)
        bus.attach(exitPort)
    }

    /// Runs the guest until its ready report.
    public func boot(timeout: Duration = LiveGuest.defaultTimeout) throws -> ReadyReport {
        switch try nextEvent(timeout: timeout) {
        case .report(.ready(let ready)): return ready
        case .report(let other): throw failure(.unexpectedReport("\(other) before the ready report"))
        case .exited(let status): throw failure(.exited(status: status))
        }
    }

    /// Sends `command` and runs the guest until it replies.
    public func execute(_ command: GuestCommand, timeout: Duration = LiveGuest.defaultTimeout) throws -> GuestReply {
        let sequence = try send(command, timeout: timeout)
        switch try nextEvent(timeout: timeout) {
        case .report(.reply(let reply)):
            guard reply.commandSequence == sequence else {
                throw failure(.unexpectedReport("a reply to command \(reply.commandSequence), expected \(sequence)"))
            }
            return reply
        case .report(let other): throw failure(.unexpectedReport("\(other) instead of a reply"))
        case .exited(let status): throw failure(.exited(status: status))
        }
    }

    /// Asks the guest to exit with `status` and returns the status it exited with.
    @discardableResult
    public func shutdown(status: UInt32 = ExitStatus.success, timeout: Duration = LiveGuest.defaultTimeout) throws -> UInt32 {
        try send(.shutdown(status: status), timeout: timeout)
        switch try nextEvent(timeout: timeout) {
        case .exited(let status): return status
        case .report(let other): throw failure(.unexpectedReport("\(other) instead of exiting"))
        }
    }

    /// Runs the guest until it exits, answering each command request with the
    /// next of `commands`, then with shutdown(0). Returns the exit status.
    public func runToExit(commands: [GuestCommand] = [], timeout: Duration = LiveGuest.defaultTimeout) throws -> UInt32 {
        var remaining = commands[...]
        while true {
            switch try nextEvent(timeout: timeout) {
            case .exited(let status): return status
            case .report(.awaitCommand): try send(remaining.popFirst() ?? .shutdown(status: ExitStatus.success), timeout: timeout)
            case .report: continue
            }
        }
    }

    // MARK: - The run loop

    enum Event {
        case report(GuestReport)
        case exited(UInt32)
    }

    /// Writes `command` into the buffer the guest offered, first running the
    /// guest until it offers one. Returns the command's sequence number.
    @discardableResult
    private func send(_ command: GuestCommand, timeout: Duration) throws -> UInt32 {
        while commandBuffer == nil {
            switch try nextEvent(timeout: timeout) {
            case .report(.awaitCommand): break
            case .report(let other): throw failure(.unexpectedReport("\(other) while waiting to send a command"))
            case .exited(let status): throw failure(.exited(status: status))
            }
        }
        let buffer = commandBuffer!
        commandBuffer = nil
        commandSequence &+= 1
        let words = command.words
        let length = recordHeaderSize + words.count * 8
        guard buffer.capacity >= UInt64(length), vm.memory.contains(buffer.address, length: UInt64(length)) else {
            throw failure(.channel(.badCommandBuffer(address: buffer.address, capacity: buffer.capacity)))
        }
        try vm.memory.withMutableBytes(at: buffer.address, count: length) { target in
            var writer = RecordWriter(base: target.baseAddress!, capacity: length, kind: RecordKind.command, sequence: commandSequence)
            for word in words { writer.append(word) }
            writer.finish()
        }
        return commandSequence
    }

    /// Runs the vCPU until the guest sends a record or exits, within `timeout`.
    /// While the guest waits for a command the vCPU stays parked, and this
    /// answers `.awaitCommand` again without running it.
    func nextEvent(timeout: Duration) throws -> Event {
        if !queued.isEmpty { return .report(queued.removeFirst()) }
        if let status = exitPort.status { return .exited(status) }
        if let buffer = commandBuffer { return .report(.awaitCommand(bufferPhysical: buffer.address, capacity: buffer.capacity)) }
        let started = ContinuousClock.now
        return try vcpu.withWatchdog(timeout: timeout) {
            while true {
                let exit = try vcpu.run()
                if let event = try handle(exit, started: started, timeout: timeout) { return event }
            }
        }
    }

    private func handle(_ exit: VCPUExit, started: ContinuousClock.Instant, timeout: Duration) throws -> Event? {
        switch exit {
        case .portIO(let access):
            portTrace?(access)
            do {
                try bus.handle(access)
            } catch let error as UnclaimedPortError {
                serial.flush()
                throw failure(.unexpectedPort(port: error.port, direction: error.direction, size: error.size))
            } catch let error as ChannelError {
                serial.flush()
                throw failure(.channel(error))
            }
            let received = channel.takeReceived()
            for case .console(let text) in received { serial.receiveConsoleText(text) }
            serial.flush()
            if let status = exitPort.status {
                if status == ExitStatus.nestedException { throw failure(.nestedException) }
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
                case .exception(let report): throw failure(.exception(report))
                case .assertion(let report): throw failure(.assertion(report))
                case .panic(let report): throw failure(.panic(report))
                case .awaitCommand(let address, let capacity): commandBuffer = (address, capacity)
                default: break
                }
                queued.append(report)
            }
            return queued.isEmpty ? nil : .report(queued.removeFirst())
        case .interrupted:
            if vcpu.watchdogFired || ContinuousClock.now - started >= timeout {
                throw failure(.timeout(timeout))
            }
            return nil
        case .halt:
            guard let input = consoleInput else { throw failure(.halted) }
            if inputEnded { throw failure(.halted) }
            switch input.waitForInput(until: started + timeout) {
            case .bytes(let bytes): serial.enqueueInput(bytes)
            case .endOfInput:
                inputEnded = true
                serial.enqueueInput([endOfInputByte])
            case .timedOut: throw failure(.timeout(timeout))
            case .quit: throw failure(.stoppedByUser)
            }
            return nil
        case .mmio(let access): throw failure(.mmio(access))
        case .shutdown: throw failure(.tripleFault)
        case .failEntry(let reason): throw failure(.failEntry(hardwareReason: reason))
        case .internalError(let suberror): throw failure(.internalError(suberror: suberror))
        case .systemEvent(let type): throw failure(.systemEvent(type: type))
        case .other(let reason): throw failure(.unexpectedExit(reason: reason))
        }
    }

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
            walk = try? PageWalker(memory: vm.memory).walk(cr3: report.cr3, virtual: report.cr2)
        }
        return GuestFailure(kind: kind, cpu: vcpu.snapshot(), consoleTail: serial.lastLines(20), walk: walk)
    }

    /// The host's walk of `virtual` through the page tables at `cr3`.
    public func walk(_ virtual: UInt64, cr3: UInt64) throws -> PageWalk {
        try PageWalker(memory: vm.memory).walk(cr3: cr3, virtual: virtual)
    }
}
