import CKVM
import Foundation
import GuestProtocol
import MemoryManager

/// A gdb remote stub for one live guest. `listen(port:)` opens
/// 127.0.0.1:PORT (0 picks a free port); a debugger that connects stops
/// the guest and is served until it continues, steps, detaches or kills.
/// While the guest runs, a watcher thread notices a new connection or
/// Ctrl-C and pauses the vCPU; everything else happens on the thread that
/// runs the guest, which calls `pauseIfRequested` and `debugExit`.
///
/// Breakpoints are hardware breakpoints in DR0-DR3 (this KVM cannot take a
/// planted `int3` in ring 0), four at most; write watchpoints are served by
/// single-stepping (`SteppedWatchpoints` says why). Memory is read and written by guest-virtual address through
/// the guest's current page tables, or by physical address after
/// `monitor phys on` (QEMU's `Qqemu.PhyMemMode:1` works too).
///
/// Each vCPU is a thread to gdb (thread N is CPU N-1), in all-stop mode:
/// while the debugger has the guest, every vCPU is out of the guest, and a
/// stop reply names the CPU that stopped. Registers and memory are the
/// selected thread's (`Hg`, gdb's `thread N`), through its own CR3. A step
/// runs that CPU one instruction while the others go on, as on hardware;
/// breakpoints are set on every vCPU.
public final class GuestDebugger: @unchecked Sendable {
    // Thread-safe: `lock` guards the listener, the connection and the pause
    // flag; the rest is touched only by the guest's thread.
    private let lock = NSLock()
    private var listener: RemoteListener?
    private var connection: RemoteConnection?
    private var pauseRequested = false
    private var running = true
    private var closed = false
    /// Bytes the watcher read while the guest ran (acknowledgements, Ctrl-C,
    /// a packet), for the serving loop; `clientGone` when it read the end.
    private var pendingInput: [UInt8] = []
    /// `pendingInput` holds a Ctrl-C or a packet that came in the same read
    /// as a resume: the guest is stopped again as soon as it runs.
    private var stopAfterResume = false
    private var clientGone = false
    /// Wakes the thread that runs the guest when it waits for console input.
    private var wake: (@Sendable () -> Void)?

    /// Every vCPU, by index: gdb's thread index + 1.
    private let vcpus: [UnownedVCPU]
    /// The boot vCPU's stop handle, held strongly: the watcher thread may
    /// kick after the vCPU is gone (a detached handle does nothing then).
    private let stopHandle: VCPUStopHandle
    /// Take the other vCPUs out of the guest while the debugger has it, and
    /// let them go on again.
    private let pauseOthers: () -> Void
    private let unpauseOthers: () -> Void
    /// The CPU the last stop came from, and the one gdb reads (`Hg`).
    private var stoppedCPU = 0
    private var selectedCPU = 0
    /// The CPU a plain `s` steps (`Hc`); nil: the selected one.
    private var continueCPU: Int?
    private let memory: GuestMemory
    private let memoryMap: PhysicalMemoryMap
    private var reader = RemotePacketReader()
    private var breakpoints = HardwareBreakpoints()
    private var watchpoints = SteppedWatchpoints()
    private var physicalMode = false
    private var awaitingStopReply = false
    /// The CPU stepping for the debugger, and the one stepping over a
    /// breakpoint at its RIP before it continues.
    private var stepping: Int?
    private var steppingOver: Int?
    /// Where each CPU was when its last step began: the RIP it resumed at,
    /// then each debug exit's.
    private var lastStepPC: [Int: UInt64] = [:]
    /// Messages for the person debugging (refused breakpoints), on stderr by default.
    public var log: (String) -> Void = { message in writeToStandardError("kvmhost: gdb stub: \(escapingControlCharacters(message))\n") }

    init(vcpus: [VCPU], memory: GuestMemory, memoryMap: PhysicalMemoryMap,
         pauseOthers: @escaping () -> Void = {}, unpauseOthers: @escaping () -> Void = {}) {
        self.vcpus = vcpus.map(UnownedVCPU.init)
        stopHandle = vcpus[0].stopHandle
        self.memory = memory
        self.memoryMap = memoryMap
        self.pauseOthers = pauseOthers
        self.unpauseOthers = unpauseOthers
    }

    /// The vCPU gdb reads and writes: the selected thread's.
    private var vcpu: VCPU { vcpus[selectedCPU].value }
    /// gdb's thread id of CPU `index`, in hexadecimal.
    private static func threadID(_ index: Int) -> String {
        let digits = String(index + 1, radix: 16)
        return digits.count < 2 ? "0" + digits : digits
    }

    deinit { close() }

    private static let tracing = ProcessInfo.processInfo.environment["KVMHOST_GDB_TRACE"] != nil
    /// With KVMHOST_GDB_TRACE set: every packet and stop on stderr, for debugging the stub itself.
    private func trace(_ message: @autoclosure () -> String) {
        if Self.tracing { writeToStandardError("gdb stub trace: \(escapingControlCharacters(message()))\n") }
    }

    /// The port a debugger can attach to, once listening.
    public var port: UInt16? { lock.withLock { listener?.port } }

    /// Opens the stub on 127.0.0.1:`port` (0: any free port) and returns the port.
    @discardableResult
    public func listen(port: UInt16) throws(DebuggerError) -> UInt16 {
        lock.lock()
        defer { lock.unlock() }
        if let listener { return listener.port }
        let opened = try RemoteListener(port: port)
        listener = opened
        // A strong reference for one round at a time: the stub can go away.
        let watcher = Thread { [weak self] in
            while let debugger = self, debugger.watchOnce() {}
        }
        watcher.name = "kvmhost gdb stub"
        watcher.start()
        return opened.port
    }

    /// The command that attaches gdb to this stub.
    public func attachCommand(kernelPath: String) -> String? {
        port.map { GDBHelpers.attachCommand(port: $0, kernelPath: kernelPath) }
    }

    /// Stops the guest for the debugger as soon as it can (from any thread):
    /// the guest waits, listening, until a debugger attaches and resumes it.
    public func requestPause() {
        let (wake, closed) = lock.withLock {
            pauseRequested = true
            return (self.wake, self.closed)
        }
        guard !closed else { return }
        stopHandle.kick()
        wake?()
    }

    func setWake(_ wake: @escaping @Sendable () -> Void) {
        lock.withLock { self.wake = wake }
    }

    func close() {
        lock.withLock {
            closed = true
            connection = nil
            listener = nil
        }
    }

    /// True while a debugger is attached or the stub is listening: the run
    /// has no deadline then, the person debugging decides.
    var isActive: Bool { lock.withLock { listener != nil } }

    // MARK: - The watcher thread

    /// One round of watching while the guest runs: a new connection, or
    /// input on the current one (Ctrl-C), pauses the vCPU. Short timeouts,
    /// so that the thread ends soon after `close`. False once closed.
    private func watchOnce() -> Bool {
        let (listener, connection, running, closed) = lock.withLock { (self.listener, self.connection, self.running, self.closed) }
        guard !closed, listener != nil || connection != nil else { return false }
        guard running else {
            usleep(50_000)
            return true
        }
        var wantsAttention = false
        if let connection {
            // Read what came, so that a late "+" does not look like Ctrl-C;
            // under the lock, and only while the guest runs, so that it never
            // reads beside the serving loop.
            if connection.hasInput(milliseconds: 100) {
                wantsAttention = lock.withLock {
                    guard self.running, !self.clientGone else { return self.pauseRequested }
                    guard let bytes = connection.receiveAvailable() else {
                        self.clientGone = true
                        return true
                    }
                    pendingInput += bytes
                    if pendingInput.count > RemotePacketReader.maximumPayload * 4 { pendingInput.removeFirst(pendingInput.count / 2) }
                    return pendingInput.contains { $0 == 0x03 || $0 == UInt8(ascii: "$") } || self.pauseRequested
                }
            } else {
                wantsAttention = lock.withLock { self.pauseRequested }
            }
        } else {
            wantsAttention = listener!.hasPendingConnection(milliseconds: 100) || lock.withLock { self.pauseRequested }
        }
        if wantsAttention {
            requestPause()
            usleep(20_000)  // kicked again next round if the vCPU was between two runs
        }
        return true
    }

    // MARK: - On the guest's thread

    enum StopReason: Equatable {
        case paused
        case step
        case breakpoint
        case watchpoint(UInt64)
        /// The run ended with a failure and waits for a look before it is reported.
        case failure
    }

    /// Serves the debugger when a pause was requested; false otherwise.
    func pauseIfRequested() throws -> Bool {
        let requested = lock.withLock {
            defer { pauseRequested = false }
            return pauseRequested
        }
        guard requested else { return false }
        try serve(.paused, cpu: 0)
        return true
    }

    /// A debug exit: serves the debugger, or carries on after stepping
    /// over a breakpoint or stepping to watch memory. True when the step it
    /// ends executed a `hlt` the debugger did not stop at: the guest waits
    /// for input then, as a KVM_EXIT_HLT would say (KVM never halts a
    /// single-stepped vCPU; its `hlt` ends in this debug exit instead).
    func debugExit(_ exit: DebugExit, cpu: Int) throws -> Bool {
        trace("debug exit of CPU \(cpu) at 0x\(String(exit.pc, radix: 16)), DR6 0x\(String(exit.dr6, radix: 16))")
        let previous = lastStepPC[cpu]
        lastStepPC[cpu] = exit.pc
        if let slot = exit.slots.first, breakpoints.addresses[slot] != nil, !exit.singleStep {
            steppingOver = nil
            stepping = nil
            try serve(.breakpoint, cpu: cpu)
            return false
        }
        if let watch = watchpoints.changed({ readWatched($0, $1, cpu: cpu) }) {
            stepping = nil
            steppingOver = nil
            try serve(.watchpoint(watch.address), cpu: cpu)
            return false
        }
        if steppingOver == cpu {
            steppingOver = nil
            // Only this vCPU: the others are in the guest, and their
            // breakpoints are set already.
            try applyGuestDebug(to: cpu, singleStep: false)
            return executedHalt(from: previous, to: exit.pc, cpu: cpu)
        }
        if stepping == cpu {
            stepping = nil
            try serve(.step, cpu: cpu)
            return false
        }
        // A step only to watch memory: on, silently.
        if !watchpoints.isEmpty && exit.singleStep { return executedHalt(from: previous, to: exit.pc, cpu: cpu) }
        // The step of a CPU that no longer steps (the stop came from another
        // CPU first, and the resume after it stepped none): on, silently.
        if exit.singleStep { return false }
        try serve(.step, cpu: cpu)
        return false
    }

    /// True when the one instruction from `previous` to `pc` was a `hlt`
    /// (0xF4, one byte) on a guest of one CPU: with several, the in-kernel
    /// LAPIC keeps a halted vCPU inside KVM_RUN until an interrupt.
    private func executedHalt(from previous: UInt64?, to pc: UInt64, cpu: Int) -> Bool {
        guard vcpus.count == 1, let previous, pc == previous &+ 1, let physical = physical(previous, alwaysVirtual: true, cpu: cpu),
              let byte = try? memory.read(at: physical, count: 1).first else { return false }
        return byte == 0xF4
    }

    private func readWatched(_ address: UInt64, _ length: Int, cpu: Int) -> [UInt8]? {
        guard let physical = physical(address, cpu: cpu), physical & 0xFFF + UInt64(length) <= pageSize else { return nil }
        return try? memory.read(at: physical, count: length)
    }

    /// Waits for a debugger if none is attached, then serves it until it
    /// resumes the guest: a stop of CPU `cpu`, every other one taken out of
    /// the guest meanwhile (pauses nest: after a failure they stay out).
    func serve(_ reason: StopReason, cpu: Int) throws {
        trace("stopped: \(reason) on CPU \(cpu)")
        pauseOthers()
        defer { unpauseOthers() }
        // This stop ends any step in progress; the next resume says what steps.
        stepping = nil
        steppingOver = nil
        stoppedCPU = cpu
        selectedCPU = cpu
        continueCPU = nil
        // A pause asked for while stopping, or while stopped, is this stop.
        lock.withLock {
            running = false
            pauseRequested = false
        }
        defer {
            let stopSoon = lock.withLock {
                running = true
                // A Ctrl-C or a packet read with the resume: the guest stops again.
                pauseRequested = stopAfterResume
                defer { stopAfterResume = false }
                return stopAfterResume
            }
            if stopSoon { stopHandle.kick() }
        }
        while true {
            let (existing, listener) = lock.withLock { (connection, self.listener) }
            var current = existing
            if current == nil {
                // Waiting for a debugger still obeys the stop handle (Ctrl-A x):
                // the run then ends as stopped by the user.
                guard let listener, waitUnlessStopped(listener.hasPendingConnection), let accepted = listener.accept() else { return }
                lock.withLock {
                    connection = accepted
                    pendingInput.removeAll()
                    clientGone = false
                }
                reader = RemotePacketReader()
                awaitingStopReply = false
                current = accepted
            }
            guard let connection = current else { return }
            if awaitingStopReply {
                awaitingStopReply = false
                connection.send(RemotePacketReader.frame(Array(stopReply(reason).utf8)))
            }
            switch try converse(with: connection, reason: reason) {
            case .resumed: return
            case .stopped:
                // Ctrl-A x while gdb was attached: the run ends, and gdb is let
                // go (it reads the end of the connection).
                lock.withLock {
                    self.connection = nil
                    pendingInput.removeAll()
                    clientGone = false
                }
                return
            case .disconnected:
                // Detached or gone: the guest runs on; another debugger may attach.
                lock.withLock {
                    self.connection = nil
                    pendingInput.removeAll()
                    clientGone = false
                }
                breakpoints.removeAll()
                watchpoints.removeAll()
                stepping = nil
                steppingOver = nil
                try applyGuestDebug(stepping: nil)
                return
            }
        }
    }

    private enum Outcome { case resumed, disconnected, stopped }

    /// Waits in short slices until `ready` (a poll of the listener or of the
    /// connection, given milliseconds) says yes: false as soon as a stop
    /// was requested, so that Ctrl-A x ends a run that waits for gdb.
    private func waitUnlessStopped(_ ready: (Int32) -> Bool) -> Bool {
        while !stopHandle.isRequested {
            if ready(Self.stopPollMilliseconds) { return !stopHandle.isRequested }
        }
        return false
    }

    /// How often a wait for gdb looks at the stop handle.
    private static let stopPollMilliseconds: Int32 = 50

    private func converse(with connection: RemoteConnection, reason: StopReason) throws -> Outcome {
        while true {
            let (early, gone) = lock.withLock {
                defer { pendingInput.removeAll(); clientGone = false }
                return (pendingInput, clientGone)
            }
            let received: [UInt8]?
            if !early.isEmpty {
                received = early
            } else if gone {
                received = nil
            } else {
                guard waitUnlessStopped(connection.hasInput) else { return .stopped }
                received = connection.receive()
            }
            guard let bytes = received else { return .disconnected }
            for (offset, byte) in bytes.enumerated() {
                guard let item = reader.take(byte) else { continue }
                switch item {
                case .acknowledged, .retransmitRequested: continue
                case .interrupt:
                    // The Ctrl-C that stopped the guest (its stop reply is
                    // sent), or one that came late: the guest is stopped.
                    continue
                case .badChecksum, .tooLong:
                    connection.send([UInt8(ascii: "-")])
                case .packet(let payload):
                    trace("<- \(String(decoding: payload.prefix(80), as: UTF8.self))")
                    connection.send([UInt8(ascii: "+")])
                    switch try answer(String(decoding: payload, as: UTF8.self), reason: reason) {
                    case .reply(let text):
                        guard connection.send(RemotePacketReader.frame(Array(text.utf8))) else { return .disconnected }
                    case .resume:
                        awaitingStopReply = true
                        // What came after the packet in the same read (a
                        // Ctrl-C, the next packet) is the watcher's to see.
                        let rest = bytes[(offset + 1)...]
                        if !rest.isEmpty {
                            lock.withLock {
                                pendingInput = Array(rest) + pendingInput
                                stopAfterResume = rest.contains { $0 == 0x03 || $0 == UInt8(ascii: "$") }
                            }
                        }
                        return .resumed
                    case .detach:
                        connection.send(RemotePacketReader.frame(Array("OK".utf8)))
                        return .disconnected
                    case .kill:
                        stopHandle.requestStop()
                        return .resumed
                    }
                }
            }
        }
    }

    private func stopReply(_ reason: StopReason) -> String {
        let thread = "thread:\(Self.threadID(stoppedCPU));"
        switch reason {
        case .paused: return "T02" + thread
        case .step, .failure: return "T05" + thread
        case .breakpoint: return "T05hwbreak:;" + thread
        case .watchpoint(let address):
            return "T05watch:\(String(address, radix: 16));" + thread
        }
    }

    /// The run is over (the guest exited with `status`, or failed): an
    /// attached debugger waiting for the guest to stop is told, W or X, and let go.
    func runEnded(exitStatus status: UInt32?) {
        guard awaitingStopReply, let connection = lock.withLock({ connection }) else { return }
        awaitingStopReply = false
        let reply = status.map { "W" + hexByte(UInt8(truncatingIfNeeded: $0)) } ?? "X05"
        connection.send(RemotePacketReader.frame(Array(reply.utf8)))
        lock.withLock { self.connection = nil }
    }

    // MARK: - Packets

    private enum Answer {
        case reply(String)
        case resume
        case detach
        case kill
    }

    private func answer(_ packet: String, reason: StopReason) throws -> Answer {
        let body = Substring(packet)
        guard let command = body.first else { return .reply("") }
        let rest = body.dropFirst()
        switch command {
        case "?": return .reply(stopReply(reason))
        case "g": return .reply(readAllRegisters())
        case "G": return .reply(writeAllRegisters(rest))
        case "p": return .reply(readRegister(rest))
        case "P": return .reply(writeRegister(rest))
        case "m": return .reply(readMemory(rest))
        case "M": return .reply(writeMemory(rest))
        case "Z", "z": return .reply(try changeBreakpoint(rest, insert: command == "Z"))
        case "c", "C": return try resume(step: nil)
        case "s", "S": return try resume(step: continueCPU ?? selectedCPU)
        case "D": return .detach
        case "k": return .kill
        case "H": return .reply(selectThread(rest))
        case "T": return .reply(cpu(ofThread: rest) != nil ? "OK" : "E01")
        case "q", "Q", "v": return try query(body)
        default: return .reply("")
        }
    }

    private func query(_ body: Substring) throws -> Answer {
        if body.hasPrefix("qSupported") { return .reply("PacketSize=\(String(RemotePacketReader.maximumPayload, radix: 16));qXfer:features:read+;hwbreak+;vContSupported+") }
        if body.hasPrefix("qXfer:features:read:target.xml:") { return .reply(targetDescription(body.dropFirst("qXfer:features:read:target.xml:".count))) }
        if body == "qAttached" { return .reply("1") }
        if body == "qC" { return .reply("QC" + Self.threadID(stoppedCPU)) }
        if body == "qfThreadInfo" { return .reply("m" + vcpus.indices.map(Self.threadID).joined(separator: ",")) }
        if body == "qsThreadInfo" { return .reply("l") }
        if body.hasPrefix("qThreadExtraInfo,") {
            guard let cpu = cpu(ofThread: body.dropFirst("qThreadExtraInfo,".count)) else { return .reply("E01") }
            return .reply(Hex.encode(Array(threadDescription(cpu).utf8)))
        }
        if body.hasPrefix("qSymbol") { return .reply("OK") }
        if body.hasPrefix("qRcmd,") {
            guard let command = Hex.decode(body.dropFirst("qRcmd,".count)) else { return .reply("E01") }
            return .reply(Hex.encode(Array(monitor(String(decoding: command, as: UTF8.self)).utf8)))
        }
        if body.hasPrefix("Qqemu.PhyMemMode:") {
            physicalMode = body.hasSuffix(":1")
            return .reply("OK")
        }
        if body == "vCont?" { return .reply("vCont;c;C;s;S") }
        if body.hasPrefix("vCont;") {
            guard let step = vContStep(body.dropFirst("vCont;".count)) else { return .reply("E01") }
            return try resume(step: step)
        }
        if body.hasPrefix("vKill") { return .kill }
        return .reply("")
    }

    private func targetDescription(_ range: Substring) -> String {
        let parts = range.split(separator: ",")
        guard parts.count == 2, let offset = Hex.number(parts[0]), let length = Hex.number(parts[1]) else { return "E01" }
        let xml = Array(TargetRegisters.targetXML.utf8)
        guard offset <= UInt64(xml.count) else { return "E01" }
        let end = min(UInt64(xml.count), offset + min(length, UInt64(RemotePacketReader.maximumPayload - 16)))
        let chunk = String(decoding: xml[Int(offset)..<Int(end)], as: UTF8.self)
        return (end == UInt64(xml.count) ? "l" : "m") + chunk
    }

    /// The CPU a `vCont` steps (nil inside: none, all continue), or nil for
    /// a malformed or unsupported action list. Each action is `c`, `s`, or
    /// `C`/`S` with a signal, for a thread or (none, 0, -1) any; the first
    /// step is the step, every other CPU continues.
    private func vContStep(_ actions: Substring) -> Int?? {
        var step: Int?
        for action in actions.split(separator: ";", omittingEmptySubsequences: false) {
            let parts = action.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let verb = parts[0]
            guard let kind = verb.first, "cCsS".contains(kind),
                  verb.count == 1 || ("CS".contains(kind) && verb.count == 3 && Hex.number(verb.dropFirst()) != nil) else { return nil }
            var cpu: Int?
            if parts.count == 2, parts[1] != "0", parts[1] != "-1" {
                guard let named = self.cpu(ofThread: parts[1]) else { return nil }
                cpu = named
            }
            if "sS".contains(kind), step == nil { step = cpu ?? selectedCPU }
        }
        return .some(step)
    }

    /// Resumes every CPU, `step` (a CPU) for one instruction. A CPU in ring 3
    /// is not stepped: this KVM hands the step's debug exception to the guest there,
    /// which kills the process (refused, saying so).
    private func resume(step: Int?) throws -> Answer {
        if let step, let cs = (try? vcpus[step].value.specialRegisters())?.cs.selector, cs & 3 == 3 {
            return .reply(refuse(nil, "CPU \(step) is in user mode (ring 3), where this KVM gives a single step's debug exception to the "
                                 + "guest (its process would die of it): step it in the kernel, or continue"))
        }
        for index in vcpus.indices { lastStepPC[index] = (try? vcpus[index].value.registers())?.rip }
        if let step {
            stepping = step
            try applyGuestDebug(stepping: step)
        } else if let rip = lastStepPC[stoppedCPU], breakpoints.contains(rip) {
            // An execute breakpoint fires again at the same RIP: one step without it first.
            steppingOver = stoppedCPU
            try applyGuestDebug(stepping: stoppedCPU)
        } else {
            try applyGuestDebug(stepping: nil)
        }
        return .resume
    }

    /// Guest debugging on every vCPU (all out of the guest) as the
    /// breakpoints and watchpoints need it: `stepping` single-steps without
    /// breakpoints, the others stop at them; every vCPU single-steps while a
    /// watchpoint is set.
    private func applyGuestDebug(stepping: Int?) throws {
        for index in vcpus.indices { try applyGuestDebug(to: index, singleStep: index == stepping) }
    }

    private func applyGuestDebug(to cpu: Int, singleStep: Bool) throws {
        let registers = singleStep ? [0, 0, 0, 0, 0] : breakpoints.debugRegisters
        let step = singleStep || !watchpoints.isEmpty
        try vcpus[cpu].value.setGuestDebug(enable: step || !breakpoints.isEmpty, singleStep: step, debugRegisters: registers)
    }

    /// `Hg`/`Hc` (thread id, 0 or -1 for any): the thread later packets read
    /// or step.
    private func selectThread(_ arguments: Substring) -> String {
        guard let operation = arguments.first else { return "E01" }
        let thread = arguments.dropFirst()
        let cpu: Int?
        if thread == "0" || thread == "-1" {
            cpu = nil
        } else {
            guard let named = self.cpu(ofThread: thread) else { return "E01" }
            cpu = named
        }
        switch operation {
        case "g": selectedCPU = cpu ?? stoppedCPU
        case "c": continueCPU = cpu
        default: return "E01"
        }
        return "OK"
    }

    /// The CPU of gdb's thread id `text` (hexadecimal, from 1), if there is one.
    private func cpu(ofThread text: Substring) -> Int? {
        guard let id = Hex.number(text), id >= 1, id <= UInt64(vcpus.count) else { return nil }
        return Int(id) - 1
    }

    /// What `info threads` shows beside a thread.
    private func threadDescription(_ cpu: Int) -> String {
        let state = cpu == stoppedCPU ? "stopped here" : "paused"
        return "CPU \(cpu) (\(state))"
    }

    private func changeBreakpoint(_ arguments: Substring, insert: Bool) throws -> String {
        let parts = arguments.split(separator: ",")
        guard parts.count >= 3, let type = parts[0].first, let address = Hex.number(parts[1]), let length = Hex.number(parts[2]),
              length <= 8 else { return "E01" }
        let (savedBreakpoints, savedWatchpoints) = (breakpoints, watchpoints)
        switch type {
        case "0", "1":
            if insert {
                guard Self.isCanonical(address) else {
                    return refuse(address, "0x\(String(address, radix: 16)) is not a canonical address: no instruction is there")
                }
                guard breakpoints.insert(address) else {
                    return refuse(address, "all \(HardwareBreakpoints.slots) hardware breakpoints (DR0-DR3) are in use, "
                                  + "and this KVM cannot take a planted int3 in ring 0: delete one (each location of an "
                                  + "inlined function takes one)")
                }
            } else {
                breakpoints.remove(address)
            }
        case "2":
            if insert {
                guard (1...8).contains(length) else { return refuse(address, "a watchpoint watches 1 to 8 bytes") }
                guard vcpus.count == 1 else {
                    return refuse(address, "a write watchpoint is served by single-stepping, which this stub does with one "
                                  + "CPU only: boot with --smp 1 to watch memory (a hardware breakpoint works with several)")
                }
                guard watchpoints.insert(address: address, length: Int(length), value: readWatched(address, Int(length), cpu: selectedCPU)) else {
                    return refuse(address, "\(SteppedWatchpoints.maximum) watchpoints are set already: delete one")
                }
            } else {
                watchpoints.remove(address: address, length: Int(length))
            }
        default:
            return ""  // read and access watchpoints: a changed value cannot show them
        }
        do {
            try applyGuestDebug(stepping: nil)
        } catch {
            // KVM refused the debug registers: the guest keeps the ones it had.
            (breakpoints, watchpoints) = (savedBreakpoints, savedWatchpoints)
            try? applyGuestDebug(stepping: nil)
            return refuse(address, "KVM refused it: \(error)")
        }
        return "OK"
    }

    /// A refused breakpoint or watchpoint, explained on kvmhost's stderr and
    /// to gdb: "E.1c.TEXT", the form gdb prints as "Remote failure reply:
    /// TEXT" for a hardware breakpoint (gdb 13 reads the text after the
    /// second dot; for `break` and `watch` it shows only its own message).
    private func refuse(_ address: UInt64?, _ reason: String) -> String {
        if let address {
            log("refused a breakpoint or watchpoint at 0x\(String(address, radix: 16)): \(reason)")
        } else {
            log("refused: \(reason)")
        }
        return "E.1c." + Self.errorText(reason)
    }

    /// `text` as an error reply may carry it: printable ASCII, none of the
    /// protocol's framing characters.
    static func errorText(_ text: String) -> String {
        String(text.unicodeScalars.map { scalar -> Character in
            guard scalar.isASCII, scalar.value >= 0x20, scalar.value < 0x7F, !"$#}*".unicodeScalars.contains(scalar) else { return "?" }
            return Character(scalar)
        })
    }

    /// True for an address of the 48-bit virtual address space (bits 63-47 all equal).
    static func isCanonical(_ address: UInt64) -> Bool {
        let top = address >> 47
        return top == 0 || top == 0x1FFFF
    }

    // MARK: - Registers

    private func readAllRegisters() -> String {
        guard let regs = try? vcpu.registers(), let sregs = try? vcpu.specialRegisters() else { return "E01" }
        return TargetRegisters.all.indices.map { Hex.encode(TargetRegisters.read($0, regs: regs, sregs: sregs)) }.joined()
    }

    private func writeAllRegisters(_ text: Substring) -> String {
        guard let bytes = Hex.decode(text), var regs = try? vcpu.registers(), var sregs = try? vcpu.specialRegisters() else { return "E01" }
        var offset = 0
        for index in TargetRegisters.all.indices {
            let size = TargetRegisters.all[index].bytes
            guard offset + size <= bytes.count else { break }
            if TargetRegisters.all[index].feature == .core {
                _ = TargetRegisters.write(index, Array(bytes[offset..<offset + size]), regs: &regs, sregs: &sregs)
            }
            offset += size
        }
        return (try? vcpu.setRegisters(regs)) != nil ? "OK" : "E01"
    }

    private func readRegister(_ text: Substring) -> String {
        guard let number = Hex.number(text), number < UInt64(TargetRegisters.all.count),
              let regs = try? vcpu.registers(), let sregs = try? vcpu.specialRegisters() else { return "E01" }
        return Hex.encode(TargetRegisters.read(Int(number), regs: regs, sregs: sregs))
    }

    private func writeRegister(_ text: Substring) -> String {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let number = Hex.number(parts[0]), number < UInt64(TargetRegisters.all.count),
              let bytes = Hex.decode(parts[1]), var regs = try? vcpu.registers(), var sregs = try? vcpu.specialRegisters(),
              TargetRegisters.write(Int(number), bytes, regs: &regs, sregs: &sregs) else { return "E01" }
        guard (try? vcpu.setRegisters(regs)) != nil, (try? vcpu.setSpecialRegisters(sregs)) != nil else { return "E01" }
        return "OK"
    }

    // MARK: - Memory

    /// The guest-physical address of `address`: itself in physical mode or
    /// with paging off, else through the page tables at CR3.
    private func physical(_ address: UInt64, alwaysVirtual: Bool = false, cpu: Int? = nil) -> UInt64? {
        guard alwaysVirtual || !physicalMode, let sregs = try? vcpus[cpu ?? selectedCPU].value.specialRegisters(),
              sregs.cr0 & (1 << 31) != 0 else { return address }
        guard let walk = try? PageWalker(memory: memory).walk(cr3: sregs.cr3, virtual: address),
              case .mapped(let physical, _, _) = walk.outcome else { return nil }
        return physical
    }

    /// Runs `body` over each piece of [address, address + length) that one
    /// page holds, translated; false at the first piece that is not there.
    private func eachPage(_ address: UInt64, _ length: Int, _ body: (UInt64, Int, Int) throws -> Void) -> Bool {
        var done = 0
        while done < length {
            let virtual = address &+ UInt64(done)
            let piece = min(length - done, pageBytes - Int(virtual & 0xFFF))
            guard let physical = physical(virtual), (try? body(physical, done, piece)) != nil else { return false }
            done += piece
        }
        return true
    }

    private func readMemory(_ arguments: Substring) -> String {
        let parts = arguments.split(separator: ",")
        guard parts.count == 2, let address = Hex.number(parts[0]), let length = Hex.number(parts[1]) else { return "E01" }
        let count = Int(min(length, UInt64(RemotePacketReader.maximumPayload / 2)))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        let complete = eachPage(address, count) { physical, _, piece in bytes += try memory.read(at: physical, count: piece) }
        // What could be read, or an error when nothing could (as gdb expects).
        guard complete || !bytes.isEmpty else { return "E0e" }
        return Hex.encode(bytes)
    }

    private func writeMemory(_ arguments: Substring) -> String {
        let parts = arguments.split(separator: ":", maxSplits: 1)
        let range = parts.first?.split(separator: ",") ?? []
        guard parts.count == 2, range.count == 2, let address = Hex.number(range[0]), let length = Hex.number(range[1]),
              let bytes = Hex.decode(parts[1]), UInt64(bytes.count) == length else { return "E01" }
        let complete = eachPage(address, bytes.count) { physical, offset, piece in
            try memory.write(Array(bytes[offset..<offset + piece]), at: physical)
        }
        return complete ? "OK" : "E0e"
    }

    // MARK: - monitor

    /// Runs a `monitor` command (qRcmd) from `StubMonitorCommand.all`.
    private func monitor(_ line: String) -> String {
        let words = line.split(whereSeparator: \.isWhitespace)
        guard let name = words.first, name != "help" else { return StubMonitorCommand.help }
        guard let command = StubMonitorCommand.all.first(where: { $0.name == name }) else {
            return "unknown monitor command '\(name)'\n" + StubMonitorCommand.help
        }
        let arguments = Array(words.dropFirst())
        guard command.arguments.contains(arguments.count) else { return "usage: monitor \(command.usage)\n" }
        return command.run(self, arguments)
    }

    fileprivate func monitorWalk(_ arguments: [Substring]) -> String {
        let text = Array(arguments[0].utf8)
        guard let address = text.withUnsafeBufferPointer(NumberText.address) else {
            return "'\(arguments[0])' is not an address (hexadecimal, 0x optional)\n"
        }
        guard let sregs = try? vcpu.specialRegisters() else { return "cannot read CR3\n" }
        do {
            return "CR3 0x\(String(sregs.cr3, radix: 16))\n\(try PageWalker(memory: memory).walk(cr3: sregs.cr3, virtual: address))\n"
        } catch {
            return "\(error)\n"
        }
    }

    fileprivate func monitorMemory() -> String {
        var lines = ["guest memory: \(memory.size >> 20) MiB; the memory map handed to the guest:"]
        lines += memoryMap.entries.map { "  \($0)" }
        if let sregs = try? vcpu.specialRegisters(), sregs.cr0 & (1 << 31) != 0 {
            switch Result(catching: { try AddressSpaceMap(memory: memory, cr3: sregs.cr3) }) {
            case .success(let map):
                let mapped = map.regions.reduce(UInt64(0)) { $0 &+ ($1.end &- $1.start) }
                lines.append("address space at CR3 0x\(String(sregs.cr3, radix: 16)): \(map.regions.count) regions, \(mapped >> 10) KiB mapped")
            case .failure(let error):
                lines.append("address space at CR3 0x\(String(sregs.cr3, radix: 16)): \(error)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    fileprivate func monitorRegions() -> String {
        guard let sregs = try? vcpu.specialRegisters() else { return "cannot read CR3\n" }
        do { return "\(try AddressSpaceMap(memory: memory, cr3: sregs.cr3))\n" } catch { return "\(error)\n" }
    }

    fileprivate func monitorPhysical(_ arguments: [Substring]) -> String {
        if let mode = arguments.first {
            guard mode == "on" || mode == "off" else { return "usage: monitor phys [on|off]\n" }
            physicalMode = mode == "on"
        }
        return "memory accesses use \(physicalMode ? "guest-physical" : "guest-virtual (through CR3)") addresses\n"
    }
}

/// A vCPU the machine owns: the stub outlives none of them in use.
private struct UnownedVCPU {
    unowned let value: VCPU
}

/// The stub's `monitor` commands: one table, a row a command, from which
/// the dispatcher and `monitor help` both read.
struct StubMonitorCommand: Sendable {
    /// The name, then the arguments.
    let usage: String
    let arguments: ClosedRange<Int>
    let summary: String
    let run: @Sendable (GuestDebugger, [Substring]) -> String

    var name: Substring { usage.prefix { $0 != " " } }

    static let all: [StubMonitorCommand] = [
        StubMonitorCommand(usage: "walk ADDRESS", arguments: 1...1, summary: "the host's walk of a virtual address through CR3") {
            $0.monitorWalk($1)
        },
        StubMonitorCommand(usage: "mem", arguments: 0...0, summary: "guest memory, its memory map, the current address space's size") { stub, _ in
            stub.monitorMemory()
        },
        StubMonitorCommand(usage: "regions", arguments: 0...0, summary: "the current address space as regions") { stub, _ in stub.monitorRegions() },
        StubMonitorCommand(usage: "phys [on|off]", arguments: 0...1, summary: "memory accesses by physical or virtual address") {
            $0.monitorPhysical($1)
        },
    ]

    static var help: String {
        all.map { "monitor " + $0.usage.padding(toLength: 16, withPad: " ", startingAt: 0) + $0.summary + "\n" }.joined()
            + "Addresses are hexadecimal, with or without 0x.\n"
    }

}
