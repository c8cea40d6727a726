import Foundation
import GuestProtocol

/// A guest kernel booted on a machine of its own, KVM or QEMU TCG: the
/// object tests and the CLI use. It sends calls, takes in what the guest
/// reports, and turns every stop of the machine into a value or a
/// `GuestFailure` through `Verdict`, the same way on both backends.
/// Features only KVM has (snapshots, the gdb stub, port traces) are
/// `KVMGuest`'s.
///
///     let guest = try LiveGuest(kernel: GuestImage.kernel())
///     let ready = try guest.boot()
///     let values = try guest.call(Echo([1, 2, 3]))
///     let status = try guest.shutdown()
///
/// Every call's `timeout` is a deadline for the whole call, however many
/// records the guest sends on the way.
public class LiveGuest {
    public static let defaultTimeout: Duration = .seconds(10)

    public let configuration: Configuration
    /// The kernel image, kept (shared, not copied) for its digest.
    let kernel: [UInt8]
    public var backend: Backend { configuration.backend }
    /// What runs the guest.
    let machine: any Machine
    /// Guest-physical memory, bounds-checked, on either backend.
    public let memory: GuestMemory
    /// The memory map the guest was given: the one KVMHost wrote on kvm;
    /// on tcg QEMU's firmware writes it, and it is known from the ready report.
    public internal(set) var memoryMap: PhysicalMemoryMap
    /// The guest's console: on kvm the emulated COM1; on tcg the text the
    /// guest sends as console records and writes to QEMU's COM1.
    public let serial: Serial16550
    /// The kernel's symbols, for the backtraces of failure reports.
    public let symbols: GuestSymbols
    /// Where the kernel keeps its coverage counters: nil unless it was built
    /// for coverage (guest-coverage.elf).
    public let profileSections: ProfileSections?
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
    public private(set) var pageTraps: [PageTrapRecord] = []
    public private(set) var programReports: [UInt64] = []
    public private(set) var droppedReports = 0
    /// Expectations of in-kernel test cases that failed, in order (kept as
    /// page traps are).
    public private(set) var expectationFailures: [AssertionReport] = []

    /// The guest's exit status, once it has exited with one of its own.
    public private(set) var exitStatus: UInt32?

    /// Where the kernel publishes what the page-table check reads, from its
    /// ready report (`ReadyRecord.pageTableCheckTable`); 0 before it.
    public internal(set) var pageTableCheckTable: UInt64 = 0
    /// MAXPHYADDR for the page-table check, from the backend (read once),
    /// never from the guest.
    public private(set) lazy var physicalAddressBits = Self.physicalAddressBits(of: machine)
    /// EFER.NXE for the page-table check, from the vCPU at the first check.
    var checkedNoExecute: Bool?

    /// A guest on the backend `configuration` names.
    public convenience init(kernel: [UInt8], configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        let image = try ELFImage(bytes: kernel)
        let serial = Serial16550()
        switch configuration.backend {
        case .kvm:
            let (machine, map) = try KVMMachine.boot(kernel: kernel, image: image, configuration: configuration, serial: serial)
            try self.init(kernel: kernel, image: image, configuration: configuration, machine: machine, memoryMap: map, serial: serial)
        case .tcg:
            // QEMU loads the image and writes the start info itself: the
            // image is held to the same RAM as on KVM first, so that a kernel
            // KVM refuses is refused here too, not loaded over the firmware.
            try image.checkPlacement(map: PhysicalMemoryMap(ram: configuration.ramRanges), keepingFree: 0..<0)
            let machine = try QEMUMachine(kernel: kernel, memorySize: configuration.memorySize, cpu: configuration.cpu.qemuModel(),
                                          cpuCount: configuration.cpuCount)
            try self.init(kernel: kernel, image: image, configuration: configuration, machine: machine,
                          memoryMap: PhysicalMemoryMap(reported: []), serial: serial)
        }
    }

    /// The one initializer every guest goes through, once its machine is built.
    init(kernel: [UInt8], image: ELFImage, configuration: Configuration, machine: any Machine,
         memoryMap: PhysicalMemoryMap, serial: Serial16550) throws {
        self.configuration = configuration
        self.kernel = kernel
        self.machine = machine
        self.memory = machine.memory
        self.memoryMap = memoryMap
        self.serial = serial
        symbols = GuestSymbols(elf: kernel)
        profileSections = try ProfileSections(image: image)
        if let qemu = machine as? QEMUMachine {
            qemu.consoleOutput = { [serial] bytes in
                serial.receiveConsoleText(bytes)
                serial.flush()
            }
        }
    }

    deinit {
        // Under scripts/coverage every instrumented guest leaves its profile.
        if profileSections != nil, let path = CoverageDirectory.nextFile() {
            do {
                try writeCoverageProfile(to: path)
            } catch {
                writeToStandardError("kvmhost: \(error)\n")
            }
        }
    }

    /// The environment variable that makes a failing run wait for a
    /// debugger on the port it names before the failure is reported (kvm).
    public static let debugOnFailureVariable = "KVMHOST_GDB_ON_FAILURE"

    /// Stops the guest from any thread: the run in progress (or the next)
    /// ends with `GuestFailure.Kind.stoppedByUser` within milliseconds,
    /// however busy the guest is.
    public var stopHandle: VCPUStopHandle { machine.stopHandle }

    /// Runs the guest until its ready report, all within `timeout`.
    public func boot(timeout: Duration = LiveGuest.defaultTimeout) throws -> ReadyRecord {
        let deadline = Deadline(after: timeout)
        switch try nextEvent(deadline) {
        case .report(.ready(let ready)):
            if ready.droppedMemoryRanges > 0 { throw failure(.memoryMapNotTaken(droppedRanges: ready.droppedMemoryRanges)) }
            // Every CPU asked for is running, or the console's last line says why not.
            if ready.cpuCount != UInt64(configuration.cpuCount) {
                throw failure(.cpusNotStarted(asked: configuration.cpuCount, started: ready.cpuCount,
                                              lastConsoleLine: serial.lastLines(20).last { $0.hasPrefix("guest kernel:") } ?? ""))
            }
            if backend == .tcg { memoryMap = PhysicalMemoryMap(reported: ready.memoryMap.entries) }
            pageTableCheckTable = ready.pageTableCheckTable
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
        let decoded = try reply.decode(Call.self)
        if configuration.checkPageTablesAfterCalls { try checkPageTablesOrFail() }
        return decoded
    }

    /// Asks the guest to exit with `status` and returns the status it exited
    /// with, all within `timeout`. The kernel's own failure statuses
    /// (`KernelExit`) are refused: the host would read them as failures.
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
            case .report(.ready(let ready)):
                pageTableCheckTable = ready.pageTableCheckTable
                checkCPUFirst = !configuration.cpu.isDefault
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
        if let shutdown = call as? Shutdown, let kernelExit = KernelExit(rawValue: shutdown.status) {
            throw GuestCallError(call: Shutdown.code, reason: .kernelStatus(kernelExit))
        }
        while commandBuffer == nil {
            switch try nextEvent(deadline) {
            case .report(.awaitCommand): break
            case .report(let other): throw failure(.unexpectedReport("\(other) while waiting to send a command"))
            case .exited(let status): throw failure(.exited(status: status))
            }
        }
        guard let buffer = commandBuffer else { throw failure(.unexpectedReport("no command buffer")) }
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

    /// Runs the machine until the guest sends a record or exits, before
    /// `deadline`. While the guest waits for a command the machine stays
    /// parked, and this answers `.awaitCommand` again without running it.
    func nextEvent(_ deadline: Deadline) throws -> Event {
        if !queued.isEmpty { return .report(queued.removeFirst()) }
        if let status = exitStatus { return .exited(status) }
        if let buffer = commandBuffer { return .report(.awaitCommand(AwaitCommandRecord(bufferPhysical: buffer.address, capacity: buffer.capacity))) }
        while true {
            betweenRuns()
            let deadline = machine.effectiveDeadline(deadline)
            let stop: MachineStop
            do {
                stop = try machine.run(until: deadline)
            } catch let error as ChannelError {
                stop = .channel(error)
            }
            switch Verdict.of(stop, deadline: deadline, consoleLines: { self.serial.lastLines(20) }) {
            case .goOn: continue
            case .record(let address):
                let report: GuestReport
                do {
                    report = try ReportChannelDevice.readRecord(at: UInt64(address), in: memory)
                } catch let error as ChannelError {
                    serial.flush()
                    throw failure(.channel(error))
                }
                if let event = try take(report) { return event }
            case .waitForInput:
                if let bytes = try waitForConsoleInput(deadline) { try machine.sendConsoleInput(bytes) }
            case .exited(let status):
                serial.flush()
                exitStatus = status
                machine.runExited(status: status)
                return .exited(status)
            case .failed(let kind):
                serial.flush()
                throw failure(kind)
            }
        }
    }

    /// What the host does between two runs of the machine: nothing here;
    /// `KVMGuest` serves the console's snapshot requests.
    func betweenRuns() {}

    /// How long one wait for console input may last before the host looks
    /// whether the backend is still there.
    static let inputWaitSlice: Duration = .milliseconds(100)

    /// What a guest waiting for console input gets: bytes, or the
    /// end-of-input byte once; nil when it was woken for another reason, or
    /// the backend went away (the next run says how).
    private func waitForConsoleInput(_ deadline: Deadline) throws -> [UInt8]? {
        guard let input = consoleInput, !inputEnded else { throw failure(.halted) }
        while true {
            let slice = Deadline(after: Self.inputWaitSlice)
            let wait = deadline.remaining.map { $0 < Self.inputWaitSlice ? deadline : slice } ?? slice
            switch input.waitForInput(until: wait) {
            case .bytes(let bytes): return bytes
            case .endOfInput:
                inputEnded = true
                return [endOfInputByte]
            case .timedOut:
                if deadline.hasPassed { throw failure(.timeout(deadline.timeout)) }
                if machine.hasEnded { return nil }
            case .quit: throw failure(.stoppedByUser)
            case .woken: return nil  // the next run sees why (a pause for the debugger, a snapshot request)
            }
        }
    }

    /// A record the guest sent: kept, queued, or turned into a failure.
    private func take(_ report: GuestReport) throws -> Event? {
        switch report {
        case .console(let text):
            serial.receiveConsoleText(text)
            serial.flush()
            return nil
        case .pageTrap(let trap):
            keep(trap, in: &pageTraps)
            return nil
        case .programReport(let value):
            keep(value, in: &programReports)
            return nil
        case .expectationFailed(let report):
            keep(report, in: &expectationFailures)
            return nil
        case .exception(let report): throw failure(.exception(report))
        case .assertion(let report): throw failure(.assertion(report))
        case .panic(let report): throw failure(.panic(report))
        case .staleTranslation(let report): throw failure(.staleTranslation(report))
        case .lockViolation(let report): throw failure(.lockViolation(report))
        case .awaitCommand(let waiting): commandBuffer = (waiting.bufferPhysical, waiting.capacity)
        case .pageTableCheckRequest:
            // The monitor's `check`: the result goes on the console, the kernel goes on.
            serial.receiveConsoleText(Array((pageTableCheckText() + "\n").utf8))
            serial.flush()
            return nil
        case .ready, .reply: break
        }
        return .report(report)
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

    // MARK: - The host's side, for snapshots

    /// The host's side of the guest between two events.
    struct HostState {
        var memoryMap: PhysicalMemoryMap
        var queued: [GuestReport]
        var commandBuffer: (address: UInt64, capacity: UInt64)?
        var commandSequence: UInt32
        var inputEnded: Bool
        var pageTraps: [PageTrapRecord]
        var programReports: [UInt64]
        var droppedReports: Int
        var expectationFailures: [AssertionReport]
        var exitStatus: UInt32?
        var pageTableCheckTable: UInt64
    }

    var hostState: HostState {
        HostState(memoryMap: memoryMap, queued: queued, commandBuffer: commandBuffer, commandSequence: commandSequence,
                  inputEnded: inputEnded, pageTraps: pageTraps, programReports: programReports, droppedReports: droppedReports,
                  expectationFailures: expectationFailures, exitStatus: exitStatus, pageTableCheckTable: pageTableCheckTable)
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
        exitStatus = state.exitStatus
        pageTableCheckTable = state.pageTableCheckTable
        serial.restore(serialState)
    }

    /// The host's walk of `virtual` through the page tables at `cr3`.
    public func walk(_ virtual: UInt64, cr3: UInt64) throws -> PageWalk {
        try PageWalker(memory: memory).walk(cr3: cr3, virtual: virtual)
    }
}
