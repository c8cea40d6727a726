import Foundation
import Glibc
import GuestProtocol

/// Why the QEMU backend could not start or go on.
public enum QEMUMachineError: Error, Equatable, CustomStringConvertible {
    case notInstalled
    /// QEMU ended or never connected while starting: its own words.
    case failedToStart(String)
    case socket(String, errno: Int32)
    case memoryFile(String, errno: Int32)
    case qmp(String)
    /// The executable was found and could not be run: the exec's errno.
    case cannotRun(String, errno: Int32)

    public var description: String {
        switch self {
        case .notInstalled: return "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
        case .failedToStart(let message): return "QEMU did not start: \(message)"
        case .socket(let call, let code): return "QEMU's socket: \(call) failed: \(String(cString: strerror(code)))"
        case .memoryFile(let call, let code): return "guest memory file: \(call) failed: \(String(cString: strerror(code)))"
        case .qmp(let problem): return "QMP: \(problem)"
        case .cannotRun(let path, let code): return "\(path) cannot be run: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// The guest on QEMU TCG (`qemu-system-x86_64 -accel tcg -M pc`): an
/// independent x86 implementation that behaves as hardware does where this
/// machine's KVM does not. Guest memory is a file both map shared, so the
/// host reads records, walks page tables and writes commands as on KVM. The
/// guest rings COM2 where it would write the report port (LinkFrame); COM1
/// carries console input and the few lines the kernel writes straight to it;
/// QMP reports a triple fault (-no-reboot -no-shutdown) and the registers.
final class QEMUMachine: Machine {
    var backend: Backend { .tcg }
    /// Where bytes the guest wrote to COM1 go, in order with everything else.
    var consoleOutput: ([UInt8]) -> Void = { _ in }

    let memory: GuestMemory
    let stopHandle: VCPUStopHandle
    private let process: ChildProcess
    /// QEMU's stderr: a file unlinked at start, read for its last words.
    private let errorDescriptor: Int32
    private let directory: String
    private let console: UnixStream
    private let link: UnixStream
    private let qmp: QMPConnection
    private var frames = LinkFrameReader()
    private var acknowledgeOwed = false
    /// Stopped through QMP at a deadline or a stop request, so that a guest
    /// that ran out of time does not go on burning a core; the next run continues it.
    private var paused = false
    /// Console input bytes sent to COM1 so far, mod 2^32.
    private var consoleBytesSent: UInt32 = 0
    /// The guest said it waits for input and none was sent since: a run
    /// that returned for another reason (the wait was woken) says so again,
    /// since the guest will not send the frame twice.
    private var inputWanted = false
    private var ended = false

    /// How long QEMU may take to connect its sockets and answer QMP.
    static let startupMilliseconds: Int32 = 20_000

    static func find() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/qemu-system-x86_64" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts QEMU on `kernel` (an ELF already checked by the caller) with
    /// `memorySize` bytes of RAM, `cpu` as QEMU's -cpu (its default if nil)
    /// and `cpuCount` CPUs.
    init(kernel: [UInt8], memorySize: Int, cpu: String?, cpuCount: Int) throws {
        guard let executable = Self.find() else { throw QEMUMachineError.notInstalled }
        // The rest may throw before every property is set: none owns anything yet.
        var errorDescriptor: Int32 = -1
        guard let stopHandle = VCPUStopHandle.forWaitingThread() else { throw QEMUMachineError.socket("stop handle", errno: ENOMEM) }
        self.stopHandle = stopHandle
        var template = Array("/tmp/kvmhost-qemu-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw QEMUMachineError.memoryFile("mkdtemp", errno: errno) }
        directory = String(cString: made)
        do {
            // The memory file: tmpfs in the private directory, sparse, unlinked once QEMU has it.
            let memoryPath = directory + "/memory"
            let descriptor = open(memoryPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw QEMUMachineError.memoryFile("open \(memoryPath)", errno: errno) }
            defer { close(descriptor) }
            guard ftruncate(descriptor, off_t(memorySize)) == 0 else { throw QEMUMachineError.memoryFile("ftruncate", errno: errno) }
            // QEMU's pc machine splits RAM as GuestRAM does, and backs it from the file in that order.
            memory = try GuestMemory(sharedFile: descriptor, ram: GuestRAM.rangeList(bytes: UInt64(memorySize)))
            let kernelPath = directory + "/kernel.elf"
            guard FileManager.default.createFile(atPath: kernelPath, contents: Data(kernel)) else {
                throw QEMUMachineError.memoryFile("write \(kernelPath)", errno: errno)
            }
            let consoleListener = try UnixListener(path: directory + "/com1")
            let linkListener = try UnixListener(path: directory + "/com2")
            let qmpListener = try UnixListener(path: directory + "/qmp")
            errorDescriptor = open(directory + "/stderr", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0o600)
            guard errorDescriptor >= 0 else { throw QEMUMachineError.memoryFile("open \(directory)/stderr", errno: errno) }
            let arguments = Self.arguments(kernel: kernelPath, memoryPath: memoryPath, memorySize: memorySize, cpu: cpu, cpuCount: cpuCount,
                                           console: consoleListener.path, link: linkListener.path, qmp: qmpListener.path)
            let process: ChildProcess
            do {
                process = try ChildProcess(executable: executable, arguments: arguments, errorDescriptor: errorDescriptor)
            } catch .start(_, let code) {
                throw QEMUMachineError.cannotRun(executable, errno: code)
            }
            self.process = process
            self.errorDescriptor = errorDescriptor
            let lastWords = { [errorDescriptor] in Self.startupError(process: process, errorDescriptor: errorDescriptor) }
            func connection(_ listener: UnixListener) throws -> UnixStream {
                // QEMU connects each chardev as it starts; none may take longer than this.
                let step: Int32 = 50
                for _ in 0..<(Self.startupMilliseconds / step) {
                    if let stream = try listener.accept(withinMilliseconds: step) { return stream }
                    if process.hasEnded { break }
                }
                throw QEMUMachineError.failedToStart(lastWords())
            }
            console = try connection(consoleListener)
            link = try connection(linkListener)
            let qmpStream = try connection(qmpListener)
            do {
                qmp = try QMPConnection(stream: qmpStream, timeoutMilliseconds: Self.startupMilliseconds)
            } catch {
                throw QEMUMachineError.failedToStart("\(error); " + lastWords())
            }
        } catch {
            if errorDescriptor >= 0 { close(errorDescriptor) }
            Self.remove(directory)
            throw error
        }
        // QEMU has mapped the file and opened the kernel: nothing on disk is needed any more.
        Self.remove(directory)
    }

    deinit {
        process.kill()
        close(errorDescriptor)
    }

    static func arguments(kernel: String, memoryPath: String, memorySize: Int, cpu: String?, cpuCount: Int,
                          console: String, link: String, qmp: String) -> [String] {
        // -display none, not -nographic: SeaBIOS then keeps its banner and
        // terminal escapes off COM1. Multi-threaded TCG: a thread a CPU, so
        // that CPUs race as they do on KVM.
        ["-accel", "tcg,thread=multi", "-smp", "\(cpuCount)", "-M", "pc,memory-backend=ram", "-nodefaults", "-display", "none",
         "-no-reboot", "-no-shutdown",
         "-object", "memory-backend-file,id=ram,size=\(memorySize),mem-path=\(memoryPath),share=on",
         "-m", "\(memorySize >> 20)M",
         "-chardev", "socket,id=com1,path=\(console)", "-serial", "chardev:com1",
         "-chardev", "socket,id=com2,path=\(link)", "-serial", "chardev:com2",
         "-chardev", "socket,id=qmp,path=\(qmp)", "-mon", "chardev=qmp,mode=control",
         "-device", "isa-debug-exit,iobase=\(hex(UInt64(GuestPort.exit))),iosize=0x04",
         "-kernel", kernel] + (cpu.map { ["-cpu", $0] } ?? [])
    }

    private static func startupError(process: ChildProcess, errorDescriptor: Int32) -> String {
        process.kill()
        let message = lastWords(errorDescriptor)
        let ending = process.termination.map { "it \($0)" } ?? "it ended"
        return message.isEmpty ? "\(ending) and said nothing" : message
    }

    /// The last 2,000 bytes QEMU wrote to its stderr, trimmed: all of it
    /// the host ever reads, however much QEMU wrote.
    static func lastWords(_ descriptor: Int32) -> String {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return "" }
        let keep = 2000
        let start = max(0, Int(status.st_size) - keep)
        var bytes = [UInt8](repeating: 0, count: min(keep, Int(status.st_size)))
        let count = pread(descriptor, &bytes, bytes.count, off_t(start))
        guard count > 0 else { return "" }
        return String(decoding: bytes.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func remove(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Lets the guest go on (acknowledging the record it waits on) and waits
    /// for what it does next, until `deadline`.
    func run(until deadline: Deadline) throws -> MachineStop {
        quietSince = .now
        if paused, !ended {
            _ = try qmp.execute("cont")
            paused = false
        }
        if acknowledgeOwed, !ended {
            acknowledgeOwed = false
            try link.write([linkAcknowledge])
        }
        while true {
            if let status = exitSeen {
                // COM1's bytes, written before the exit, come first: they
                // travel on another socket and may not have reached it yet.
                // QEMU ends at the exit, so COM1's end of file says all is in.
                while let bytes = try consoleUntilItEnds(deadline) { consoleOutput(bytes) }
                exitSeen = nil
                return .exited(status: status)
            }
            if let (frame, value) = try frames.next() {
                switch frame {
                case .record:
                    acknowledgeOwed = true
                    return .record(address: value)
                case .exit:
                    exitSeen = value
                    continue
                case .wantsInput:
                    // Only once the guest has read all it was sent does it wait.
                    if value == consoleBytesSent {
                        inputWanted = true
                        return .wantsInput
                    }
                }
            }
            if ended {
                // Its last console bytes (the entry's line) may follow the link's end.
                while let bytes = try consoleUntilItEnds(deadline) { consoleOutput(bytes) }
                return .backendEnded(process.termination ?? .killed(signal: SIGKILL), message: Self.lastWords(errorDescriptor))
            }
            if stopHandle.isRequested || deadline.hasPassed {
                if (try? qmp.execute("stop")) != nil { paused = true }
                return stopHandle.isRequested ? .stopRequested : .deadlinePassed
            }
            if inputWanted {
                // QEMU may have gone while the host waited for input: its end first.
                if process.hasEnded {
                    try end()
                    continue
                }
                return .wantsInput
            }
            // A bounded slice, so that a stop signal that arrives just before
            // poll is seen within it.
            var slice: Int32 = 100
            if let left = deadline.remaining { slice = min(slice, Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))) }
            var entries = [link.descriptor, console.descriptor, qmp.stream.descriptor, process.endDescriptor]
                .map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = stopHandle.interruptingWaits { poll(&entries, nfds_t(entries.count), slice) }
            if ready < 0 {
                if errno == EINTR { continue }
                throw QEMUMachineError.socket("poll", errno: errno)
            }
            if ready == 0 {
                if haltedForGood() { return .haltedForGood }
                continue
            }
            quietSince = .now
            if entries[0].revents != 0 {
                let bytes = try link.read()
                if bytes.isEmpty { try end() } else { frames.append(bytes) }
                continue
            }
            if entries[1].revents != 0 {
                let bytes = try console.read()
                if bytes.isEmpty {
                    consoleEnded = true
                    try end()
                } else {
                    consoleOutput(bytes)
                }
                continue
            }
            if entries[2].revents != 0 {
                guard let events = try qmp.readEvents() else {
                    try end()
                    continue
                }
                if let shutdown = events.first(where: { $0["event"] as? String == "SHUTDOWN" }) {
                    let data = shutdown["data"] as? [String: Any]
                    let reason = data?["reason"] as? String ?? "unknown"
                    return reason == "guest-reset" ? .tripleFault : .backendShutdown(reason: reason)
                }
                continue
            }
            if entries[3].revents != 0 { try end() }
        }
    }

    /// When the guest last did something the host saw.
    private var quietSince = ContinuousClock.now
    private var lastHaltCheck = ContinuousClock.now

    /// Whether the guest has been quiet a while and QEMU shows its vCPU
    /// halted with interrupts off: QEMU reports no such halt itself, so the
    /// host asks (`info registers`), at most every half second of quiet.
    private func haltedForGood() -> Bool {
        let now = ContinuousClock.now
        guard now - quietSince >= .milliseconds(500), now - lastHaltCheck >= .milliseconds(500) else { return false }
        lastHaltCheck = now
        guard let text = try? qmp.execute("human-monitor-command", arguments: ["command-line": "info registers"]) as? String else {
            return false
        }
        return qemuShowsHaltedForGood(text)
    }

    /// The guest's exit status, held back until COM1 has nothing pending.
    private var exitSeen: UInt32?

    /// Whether COM1's socket has been read to its end.
    private var consoleEnded = false

    /// Console bytes still to come on COM1's socket once the guest exited
    /// or QEMU ended:
    /// nil at its end of file, or when QEMU has not closed it within a
    /// second (or by the deadline).
    private func consoleUntilItEnds(_ deadline: Deadline) throws -> [UInt8]? {
        guard !consoleEnded else { return nil }
        var wait: Int32 = 1000
        if let left = deadline.remaining { wait = min(wait, Int32(max(0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))) }
        var entry = pollfd(fd: console.descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, wait) > 0, entry.revents != 0 else { return nil }
        let bytes = try console.read()
        if bytes.isEmpty { consoleEnded = true }
        return bytes.isEmpty ? nil : bytes
    }

    /// QEMU went away: take what it wrote on the link before it did, then its status.
    private func end() throws {
        guard !ended else { return }
        while true {
            var entry = pollfd(fd: link.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 1000) > 0 else { break }
            let bytes = try link.read()
            if bytes.isEmpty { break }
            frames.append(bytes)
        }
        process.kill()
        ended = true
    }

    var hasEnded: Bool { ended || process.hasEnded }

    func effectiveDeadline(_ deadline: Deadline) -> Deadline { deadline }
    func runFailed(_ failure: GuestFailure) {}
    func runExited(status: UInt32) {}

    /// Console input for the guest's COM1: QEMU's UART takes it as the guest reads.
    func sendConsoleInput(_ bytes: [UInt8]) throws {
        inputWanted = false
        do {
            try console.write(bytes)
        } catch where hasEnded {
            // QEMU went away as the input came: the next run says how it ended.
            return
        }
        consoleBytesSent &+= UInt32(truncatingIfNeeded: bytes.count)
    }

    /// The other CPUs' registers, from `info registers -a` (every CPU, each
    /// after a "CPU#N" line), the machine paused first as for `cpuState`,
    /// whose CPU (the monitor's current one, CPU 0) is left out.
    func otherCPUStates() -> [OtherCPU] {
        guard cpuState() != nil,
              let text = try? qmp.execute("human-monitor-command", arguments: ["command-line": "info registers -a"]) as? String
        else { return [] }
        return text.components(separatedBy: "CPU#").dropFirst().compactMap { part in
            let digits = part.prefix { $0.isNumber }
            guard let index = Int(digits), index != 0, let state = CPUState(qemuRegisters: String(part.dropFirst(digits.count))) else {
                return nil
            }
            return OtherCPU(index: index, state: state)
        }
    }

    /// The vCPU's registers, from QMP's `info registers`; nil once QEMU is gone.
    /// The vCPU is paused first (and continued by the next run): a running
    /// one's registers come from different moments, and a backtrace from
    /// its rip and rbp would not be one stack.
    func cpuState() -> CPUState? {
        guard !hasEnded else { return nil }
        if !paused {
            guard (try? qmp.execute("stop")) != nil else { return nil }
            paused = true
        }
        guard let text = try? qmp.execute("human-monitor-command", arguments: ["command-line": "info registers"]) as? String
        else { return nil }
        return CPUState(qemuRegisters: text)
    }
}
