import Foundation
import GuestImage
import TestSupport
import XCTest

/// kvmhost on a pseudo-terminal, as a person at a terminal uses it.
final class TerminalSessionTests: XCTestCase {
    /// A pseudo-terminal pair: the test holds the master, kvmhost gets the slave.
    final class PseudoTerminal {
        let master: Int32
        let slave: Int32
        private(set) var screen = ""

        // glibc's pseudo-terminal calls, which the Glibc module does not import.
        private typealias OpenFunction = @convention(c) (Int32) -> Int32
        private typealias NameFunction = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?

        private static func function<T>(_ name: String, as type: T.Type) throws -> T {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
                throw XCTSkip("\(name) is not in this C library")
            }
            return unsafeBitCast(symbol, to: type)
        }

        init() throws {
            let open = try Self.function("posix_openpt", as: OpenFunction.self)
            let grant = try Self.function("grantpt", as: OpenFunction.self)
            let unlock = try Self.function("unlockpt", as: OpenFunction.self)
            let slaveName = try Self.function("ptsname", as: NameFunction.self)
            master = open(O_RDWR | O_NOCTTY)
            guard master >= 0, grant(master) == 0, unlock(master) == 0, let path = slaveName(master) else {
                throw XCTSkip("no pseudo-terminal available")
            }
            let name = String(cString: path)
            slave = Glibc.open(name, O_RDWR | O_NOCTTY)
            guard slave >= 0 else { throw XCTSkip("cannot open the pseudo-terminal's slave") }
        }

        deinit {
            close(master)
            close(slave)
        }

        var settings: termios {
            var value = termios()
            tcgetattr(slave, &value)
            return value
        }

        func type(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        }

        func type(_ text: String) { type(Array(text.utf8)) }

        /// Reads the screen until it contains `text` (after what was read before).
        @discardableResult
        func waitFor(_ text: String, timeout: TimeInterval = 30) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let range = screen.range(of: text) {
                    let seen = String(screen[..<range.upperBound])
                    screen.removeSubrange(..<range.upperBound)
                    return seen
                }
                var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 200) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(master, &buffer, buffer.count)
                if count > 0 { screen += String(decoding: buffer.prefix(count), as: UTF8.self) }
            }
            return nil
        }
    }

    /// Starts kvmhost with the terminal as stdin, stdout and stderr, or
    /// with stdout on `output` instead.
    private func launch(on terminal: PseudoTerminal, _ arguments: [String] = [], output: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = try KVMHostBinary().url
        process.arguments = arguments
        let handle = FileHandle(fileDescriptor: terminal.slave, closeOnDealloc: false)
        process.standardInput = handle
        process.standardOutput = output ?? handle
        process.standardError = handle
        try process.run()
        // A test that fails half-way must not leave kvmhost running.
        addTeardownBlock { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        return process
    }

    /// Waits for kvmhost to exit, at most `timeout`: a kvmhost that hangs
    /// is killed and fails the test instead of hanging the suite.
    private func waitForExit(_ process: Process, timeout: TimeInterval = 30, line: UInt = #line) {
        func waitWhileRunning(_ seconds: TimeInterval) {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(10_000) }
        }
        waitWhileRunning(timeout)
        guard process.isRunning else { return }
        XCTFail("kvmhost did not exit within \(Int(timeout)) s; killed", line: line)
        kill(process.processIdentifier, SIGKILL)
        waitWhileRunning(5)
    }

    private func assertSameSettings(_ before: termios, _ after: termios, line: UInt = #line) {
        XCTAssertEqual(after.c_lflag, before.c_lflag, "local modes restored", line: line)
        XCTAssertEqual(after.c_iflag, before.c_iflag, "input modes restored", line: line)
        XCTAssertEqual(after.c_oflag, before.c_oflag, "output modes restored", line: line)
    }

    func testTypingReachesTheMonitorAndCtrlAXQuits() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "), "the monitor's prompt")
        XCTAssertEqual(terminal.settings.c_lflag & tcflag_t(ICANON | ECHO), 0, "raw mode while the guest runs")

        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384"))
        // Echo and backspace come from the guest: "hex" corrected to "help".
        terminal.type("hex")
        terminal.type([0x7F, 0x7F])
        terminal.type("elp\r")
        XCTAssertNotNil(terminal.waitFor("walk VIRTUAL"))
        // Ctrl-C goes to the guest, which drops the line; kvmhost keeps running.
        terminal.type("map 0x1000")
        terminal.type([0x03])
        XCTAssertNotNil(terminal.waitFor("^C"))
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        XCTAssertTrue(process.isRunning)
        // After kvmhost's own message (Ctrl-A h) the guest redraws the prompt and the line being typed.
        terminal.type("me")
        terminal.type([0x01, UInt8(ascii: "h")])
        XCTAssertNotNil(terminal.waitFor("C-a C-a  send C-a", timeout: 5), terminal.screen.debugDescription)
        XCTAssertNotNil(terminal.waitFor("\rmonitor> me\u{1B}[K", timeout: 5), "the prompt and the line redrawn: " + terminal.screen.debugDescription)
        terminal.type("m\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384"), "the redrawn line goes on")

        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process)
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    /// On tcg, where there are no snapshots, Ctrl-A s and Ctrl-A r say so
    /// and the session goes on: typed commands are echoed and run.
    func testSnapshotEscapesOnTCGLeaveTheSessionWorking() throws {
        try requireQEMU()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal, ["--accel", "tcg"])
        XCTAssertNotNil(terminal.waitFor("monitor> "), "the monitor's prompt")
        for escape: Unicode.Scalar in ["s", "r", "s"] {
            terminal.type([0x01, UInt8(ascii: escape)])
            XCTAssertNotNil(terminal.waitFor("kvmhost: snapshots need --accel kvm: QEMU holds the vCPU's state under tcg"), "Ctrl-A \(escape)")
            terminal.type("alloc 2\r")
            XCTAssertNotNil(terminal.waitFor("alloc 2\r\n"), "echoed after Ctrl-A \(escape)")
            XCTAssertNotNil(terminal.waitFor("frame 0x"), "run after Ctrl-A \(escape)")
            XCTAssertNotNil(terminal.waitFor("monitor> "))
        }
        terminal.type("quit\r")
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    func testTerminalIsRestoredWhenKilled() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        process.terminate()  // SIGTERM
        waitForExit(process)
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        assertSameSettings(before, terminal.settings)
    }

    func testQuitInTheMonitorShutsTheGuestDown() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type("quit\r")
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    /// Every catchable signal that ends kvmhost restores the terminal
    /// first, and kvmhost still ends by that signal.
    func testEverySignalThatEndsKVMHostRestoresTheTerminal() throws {
        try requireKVM()
        // Every signal whose default action ends a process, but SIGKILL (not
        // catchable) and SIGPIPE (ignored: see below).
        let signals = [SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1, SIGSEGV, SIGUSR2,
                       SIGALRM, SIGTERM, SIGSTKFLT, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS]
        for signal in signals {
            let terminal = try PseudoTerminal()
            let before = terminal.settings
            let process = try launch(on: terminal)
            XCTAssertNotNil(terminal.waitFor("monitor> "), "signal \(signal)")
            XCTAssertEqual(terminal.settings.c_lflag & tcflag_t(ICANON), 0, "raw before signal \(signal)")
            kill(process.processIdentifier, signal)
            waitForExit(process)
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "signal \(signal)")
            XCTAssertEqual(process.terminationStatus, signal, "ended by signal \(signal) itself")
            assertSameSettings(before, terminal.settings)
        }
        // SIGPIPE is ignored: a reader that went away is a write error.
        let terminal = try PseudoTerminal()
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        kill(process.processIdentifier, SIGPIPE)
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384"), "still running after SIGPIPE")
        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// Stopped (SIGTSTP), the terminal is the user's again; continued
    /// (SIGCONT), kvmhost takes it raw again and the session goes on.
    func testStopRestoresTheTerminalAndContinueTakesItBack() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        for stop in [SIGTSTP, SIGTTIN, SIGTTOU] {
            kill(process.processIdentifier, stop)
            XCTAssertTrue(waitForState("T", of: process), "stopped by signal \(stop)")
            assertSameSettings(before, terminal.settings)
            kill(process.processIdentifier, SIGCONT)
            XCTAssertTrue(waitForState("S", of: process) || waitForState("R", of: process), "continued after \(stop)")
            XCTAssertTrue(waitUntil { terminal.settings.c_lflag & tcflag_t(ICANON | ECHO) == 0 }, "raw again after \(stop)")
        }
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384"), "the session goes on")
        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    /// Ctrl-A x leaves a guest that never asks for input: a busy loop with
    /// no watchdog at a terminal.
    func testCtrlAXQuitsABusyGuest() throws {
        try requireKVM()
        var code = Code32()
        code.jumpBack(to: 0)
        let path = NSTemporaryDirectory() + "kvmhost-busy-\(UUID().uuidString).elf"
        try Data(ELFBuilder.guest(code: code.bytes).build()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal, ["--kernel", path])
        XCTAssertTrue(waitUntil { terminal.settings.c_lflag & tcflag_t(ICANON) == 0 }, "raw mode")
        usleep(300_000)
        XCTAssertTrue(process.isRunning, "the guest spins")
        let started = Date()
        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process, timeout: 5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "Ctrl-A x quits at once")
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertNotNil(terminal.waitFor("kvmhost: stopped"))
        assertSameSettings(before, terminal.settings)
    }

    /// `kvmhost | head -c N` at a terminal: the reader goes away, kvmhost
    /// says so (SIGPIPE is ignored) and restores the terminal.
    func testAReaderThatGoesAwayEndsTheSessionCleanly() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let output = Pipe()
        let process = try launch(on: terminal, [], output: output)
        var seen = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: seen, as: UTF8.self).contains("monitor> ") && Date() < deadline {
            seen += output.fileHandleForReading.availableData
        }
        try output.fileHandleForReading.close()  // what head does when it has enough
        terminal.type("mem\r")
        waitForExit(process)
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 74)
        XCTAssertNotNil(terminal.waitFor("kvmhost: cannot write to standard output: Broken pipe (errno 32); the guest was stopped"))
        assertSameSettings(before, terminal.settings)
    }

    /// A failure at a terminal: kvmhost's report does not repeat the console
    /// lines the user has just seen, and starts a line of its own.
    func testFailureAtATerminalDoesNotRepeatTheConsole() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type("fault\r")
        XCTAssertNotNil(terminal.waitFor("kvmhost: guest failure: unhandled exception #PF page fault"))
        let rest = terminal.waitFor("walk of 0x0:") ?? ""
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 123)
        XCTAssertTrue(rest.contains("faulting context (trap frame):"), rest)
        XCTAssertNil(terminal.waitFor("last console lines", timeout: 0.5), "the console is not repeated at a terminal")
        assertSameSettings(before, terminal.settings)
    }

    /// Ctrl-A g opens the gdb stub on a free port, prints the command to
    /// attach, and stops the guest until the debugger detaches.
    func testCtrlAGStopsTheGuestForGDB() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type([0x01, UInt8(ascii: "g")])
        let shown = try XCTUnwrap(terminal.waitFor("/" + GuestImage.kernelURL.lastPathComponent), "the command to attach")
        let match = try XCTUnwrap(shown.firstMatch(of: /the guest is stopped for gdb: gdb -q -x \S+ -ex 'target remote 127\.0\.0\.1:(\d+)' \//), shown)
        let debugger = try RemoteClient(port: try XCTUnwrap(UInt16(match.1)))
        XCTAssertEqual(debugger.ask("?"), "T02thread:01;", "stopped for the debugger")
        let rip = try XCTUnwrap(debugger.ask("p10"))
        XCTAssertTrue(rip.hasSuffix("ff7f0000"), "in the kernel, waiting for input: \(rip)")
        XCTAssertEqual(debugger.ask("D"), "OK")
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384"), "the session goes on after detach")
        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    /// Ctrl-A x ends kvmhost promptly while the stub waits for gdb: before
    /// any debugger attached (the wait to accept), and with one attached and
    /// the guest stopped (the wait for its next packet); pressed twice, the
    /// second is harmless. Status 0, "stopped", the terminal restored.
    func testCtrlAXQuitsWhileTheGuestWaitsForGDB() throws {
        try requireKVM()
        for attached in [false, true] {
            let terminal = try PseudoTerminal()
            let before = terminal.settings
            let process = try launch(on: terminal)
            XCTAssertNotNil(terminal.waitFor("monitor> "))
            terminal.type([0x01, UInt8(ascii: "g")])
            let shown = try XCTUnwrap(terminal.waitFor("/" + GuestImage.kernelURL.lastPathComponent), "the command to attach")
            let match = try XCTUnwrap(shown.firstMatch(of: /target remote 127\.0\.0\.1:(\d+)/), shown)
            var debugger: RemoteClient?
            if attached {
                debugger = try RemoteClient(port: try XCTUnwrap(UInt16(match.1)))
                XCTAssertEqual(debugger?.ask("?"), "T02thread:01;", "stopped for the debugger")
            } else {
                usleep(300_000)  // the guest is stopped and the stub waits to accept
            }
            terminal.type([0x01, UInt8(ascii: "x"), 0x01, UInt8(ascii: "x")])
            let start = Date()
            waitForExit(process, timeout: 10)
            XCTAssertLessThan(Date().timeIntervalSince(start), 3, "promptly (attached: \(attached))")
            XCTAssertEqual(process.terminationReason, .exit)
            XCTAssertEqual(process.terminationStatus, 0, "attached: \(attached)")
            XCTAssertNotNil(terminal.waitFor("stopped", timeout: 5), "attached: \(attached)")
            assertSameSettings(before, terminal.settings)
            if let debugger { XCTAssertNil(debugger.next(), "gdb sees the connection end") }
        }
    }

    /// Ctrl-A s snapshots the guest waiting at the prompt; frames allocated
    /// after it are unallocated again by Ctrl-A r, and the session goes on.
    func testCtrlASTakesASnapshotAndCtrlARRewindsToIt() throws {
        try requireKVM()
        let terminal = try PseudoTerminal()
        let before = terminal.settings
        let process = try launch(on: terminal)
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type([0x01, UInt8(ascii: "r")])
        XCTAssertNotNil(terminal.waitFor("kvmhost: no snapshot to rewind to: Ctrl-A s takes one"))

        terminal.type("alloc 3\r")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384, free 15509, used 8,"), "3 frames more in use")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type([0x01, UInt8(ascii: "s")])
        XCTAssertNotNil(terminal.waitFor("kvmhost: snapshot taken: Ctrl-A r rewinds to it"))

        terminal.type("alloc 16\r")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384, free 15493, used 24,"), "16 frames more after the snapshot")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type([0x01, UInt8(ascii: "r")])
        XCTAssertNotNil(terminal.waitFor("kvmhost: rewound to the snapshot ("))
        XCTAssertNotNil(terminal.waitFor("pages copied back); the guest goes on from there"))
        // The guest is back at the prompt it was waiting at when the snapshot was taken.
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384, free 15509, used 8,"), "the frames of after the snapshot are free again")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        // A second rewind goes back to the same snapshot.
        terminal.type("alloc 2\r")
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        terminal.type([0x01, UInt8(ascii: "r")])
        XCTAssertNotNil(terminal.waitFor("kvmhost: rewound to the snapshot ("))
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384, free 15509, used 8,"))
        XCTAssertNotNil(terminal.waitFor("monitor> "))
        // Keys typed just before Ctrl-A r, in one write, are dropped with the
        // timeline the rewind discards, whether or not the guest read them.
        terminal.type(Array("alloc 5\r".utf8) + [0x01, UInt8(ascii: "r")])
        XCTAssertNotNil(terminal.waitFor("kvmhost: rewound to the snapshot ("))
        terminal.type("mem\r")
        XCTAssertNotNil(terminal.waitFor("frames: total 16384, free 15509, used 8,"), "alloc 5 is not carried past the rewind")

        terminal.type([0x01, UInt8(ascii: "x")])
        waitForExit(process)
        XCTAssertEqual(process.terminationStatus, 0)
        assertSameSettings(before, terminal.settings)
    }

    private func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Waits until /proc says the process is in `state` (T stopped, S sleeping, R running).
    private func waitForState(_ state: Character, of process: Process) -> Bool {
        waitUntil {
            guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(close, offsetBy: 2)] == state
        }
    }
}
