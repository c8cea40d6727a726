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

    public var description: String {
        switch self {
        case .notInstalled: return "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
        case .failedToStart(let message): return "QEMU did not start: \(message)"
        case .socket(let call, let code): return "QEMU's socket: \(call) failed: \(String(cString: strerror(code)))"
        case .memoryFile(let call, let code): return "guest memory file: \(call) failed: \(String(cString: strerror(code)))"
        case .qmp(let problem): return "QMP: \(problem)"
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
final class QEMUMachine {
    /// What ended a wait for the guest.
    enum Stop {
        /// The record at this address is ready; the guest waits until the next `run`.
        case record(address: UInt32)
        case exit(status: UInt32)
        /// The guest polls COM1 for input.
        case wantsInput
        /// Bytes the guest wrote to COM1.
        case console([UInt8])
        /// QMP's SHUTDOWN event; "guest-reset" is a triple fault under -no-reboot.
        case shutdown(reason: String)
        /// QEMU ended without an exit frame: its exit code.
        case ended(exitCode: Int32)
        /// A stop request, or the deadline passed.
        case interrupted
    }

    let memory: GuestMemory
    let stopHandle: VCPUStopHandle
    private let process: Process
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
    private var ended = false

    /// How long QEMU may take to connect its sockets and answer QMP.
    static let startupMilliseconds: Int32 = 20_000

    static func find() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/qemu-system-x86_64" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts QEMU on `kernel` (an ELF already checked by the caller) with
    /// `memorySize` bytes of RAM and `cpu` as QEMU's -cpu (its default if nil).
    init(kernel: [UInt8], memorySize: Int, cpu: String?) throws {
        guard let executable = Self.find() else { throw QEMUMachineError.notInstalled }
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
            let process = Process()
            self.process = process
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Self.arguments(kernel: kernelPath, memoryPath: memoryPath, memorySize: memorySize, cpu: cpu,
                                               console: consoleListener.path, link: linkListener.path, qmp: qmpListener.path)
            let errorPath = directory + "/stderr"
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errorPath)
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            func connection(_ listener: UnixListener) throws -> UnixStream {
                // QEMU connects each chardev as it starts; none may take longer than this.
                let step: Int32 = 50
                for _ in 0..<(Self.startupMilliseconds / step) {
                    if let stream = try listener.accept(withinMilliseconds: step) { return stream }
                    if !process.isRunning { break }
                }
                throw QEMUMachineError.failedToStart(Self.startupError(process: process, errorPath: errorPath))
            }
            console = try connection(consoleListener)
            link = try connection(linkListener)
            let qmpStream = try connection(qmpListener)
            do {
                qmp = try QMPConnection(stream: qmpStream, timeoutMilliseconds: Self.startupMilliseconds)
            } catch {
                throw QEMUMachineError.failedToStart("\(error); " + Self.startupError(process: process, errorPath: errorPath))
            }
        } catch {
            Self.remove(directory)
            throw error
        }
        // QEMU has mapped the file and opened the kernel: nothing on disk is needed any more.
        Self.remove(directory)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func arguments(kernel: String, memoryPath: String, memorySize: Int, cpu: String?,
                          console: String, link: String, qmp: String) -> [String] {
        // -display none, not -nographic: SeaBIOS then keeps its banner and
        // terminal escapes off COM1.
        ["-accel", "tcg", "-M", "pc,memory-backend=ram", "-nodefaults", "-display", "none",
         "-no-reboot", "-no-shutdown",
         "-object", "memory-backend-file,id=ram,size=\(memorySize),mem-path=\(memoryPath),share=on",
         "-m", "\(memorySize >> 20)M",
         "-chardev", "socket,id=com1,path=\(console)", "-serial", "chardev:com1",
         "-chardev", "socket,id=com2,path=\(link)", "-serial", "chardev:com2",
         "-chardev", "socket,id=qmp,path=\(qmp)", "-mon", "chardev=qmp,mode=control",
         "-device", "isa-debug-exit,iobase=\(hex(UInt64(GuestPort.exit))),iosize=0x04",
         "-kernel", kernel] + (cpu.map { ["-cpu", $0] } ?? [])
    }

    private static func startupError(process: Process, errorPath: String) -> String {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        let message = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return message.isEmpty ? "it exited with status \(process.terminationStatus) and said nothing" : String(message.prefix(2000))
    }

    private static func remove(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Lets the guest go on (acknowledging the record it waits on) and waits
    /// for what it does next, until `deadline`.
    func run(until deadline: Deadline) throws -> Stop {
        if paused {
            _ = try qmp.execute("cont")
            paused = false
        }
        if acknowledgeOwed {
            acknowledgeOwed = false
            try link.write([linkAcknowledge])
        }
        while true {
            if let status = exitSeen {
                // COM1's bytes, written before the exit, come first: they
                // travel on another socket and may not have reached it yet.
                // QEMU ends at the exit, so COM1's end of file says all is in.
                if let bytes = try consoleUntilItEnds(deadline) { return .console(bytes) }
                exitSeen = nil
                return .exit(status: status)
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
                    if value == consoleBytesSent { return .wantsInput }
                }
            }
            if ended {
                // Its last console bytes (the entry's line) may follow the link's end.
                if let bytes = try consoleUntilItEnds(deadline) { return .console(bytes) }
                return .ended(exitCode: process.terminationStatus)
            }
            if stopHandle.isRequested || deadline.hasPassed {
                if !ended, (try? qmp.execute("stop")) != nil { paused = true }
                return .interrupted
            }
            // A bounded slice, so that a stop signal that arrives just before
            // poll is seen within it.
            var slice: Int32 = 100
            if let left = deadline.remaining { slice = min(slice, Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))) }
            var entries = [link, console, qmp.stream].map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let ready = stopHandle.interruptingWaits { poll(&entries, nfds_t(entries.count), slice) }
            if ready < 0 {
                if errno == EINTR { continue }
                throw QEMUMachineError.socket("poll", errno: errno)
            }
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
                    return .console(bytes)
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
                    return .shutdown(reason: data?["reason"] as? String ?? "unknown")
                }
            }
        }
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
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        ended = true
    }

    /// Console input for the guest's COM1: QEMU's UART takes it as the guest reads.
    func sendConsoleInput(_ bytes: [UInt8]) throws {
        try console.write(bytes)
        consoleBytesSent &+= UInt32(truncatingIfNeeded: bytes.count)
    }

    /// The vCPU's registers, from QMP's `info registers`; nil once QEMU is gone.
    /// The vCPU is paused first (and continued by the next run): a running
    /// one's registers come from different moments, and a backtrace from
    /// its rip and rbp would not be one stack.
    func cpuState() -> CPUState? {
        guard !ended, process.isRunning else { return nil }
        if !paused {
            guard (try? qmp.execute("stop")) != nil else { return nil }
            paused = true
        }
        guard let text = try? qmp.execute("human-monitor-command", arguments: ["command-line": "info registers"]) as? String
        else { return nil }
        return CPUState(qemuRegisters: text)
    }
}
