import Foundation
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// kvmhost's verdict can be trusted: a failing guest never exits 0, a bad
/// value never traps, output errors and hostile console text are handled,
/// and every bad argument is one line naming the option.
final class VerdictTests: XCTestCase {
    private func kernelFile(_ code: Code32, records: [ELFBuilder.Segment] = []) throws -> String {
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments += records
        return try writeTemporary(builder.build())
    }

    private func writeTemporary(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "kvmhost-verdict-\(UUID().uuidString).elf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func exiting(_ status: UInt32) -> Code32 {
        var code = Code32()
        code.exit(status)
        return code
    }

    /// A guest that writes `text` to COM1 with `rep outsb`, then `then`.
    private func writing(_ text: [UInt8], then finish: (inout Code32) -> Void) throws -> String {
        let address: UInt32 = 0x200000
        var code = Code32()
        code.movESI(address)
        code.movECX(UInt32(text.count))
        code.movEDX(UInt32(GuestPort.serial))
        code.repOutsb()
        finish(&code)
        return try kernelFile(code, records: [.init(physicalAddress: UInt64(address), bytes: text)])
    }

    func testGuestStatusesAbove63NeverReadAsSuccess() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        for (guest, expected) in [(0, 0), (1, 1), (42, 42), (63, 63), (64, 120), (65, 120), (120, 120), (121, 120),
                                  (126, 120), (255, 120), (256, 120), (512, 120), (0x1_0000, 120), (0xFFFF_FFFF, 120)] as [(UInt32, Int32)] {
            let result = try binary.run(["--kernel", try kernelFile(exiting(guest))])
            XCTAssertEqual(result.status, expected, "guest status \(guest)")
            if expected == 120 {
                XCTAssertEqual(result.stderr, "kvmhost: the guest exited with status \(guest) (0x\(String(guest, radix: 16))); "
                               + "kvmhost exits 120 for guest statuses above 63\n")
            } else {
                XCTAssertEqual(result.stderr, "", "guest status \(guest)")
            }
        }
    }

    /// The statuses the kernel ends with when it fails (`KernelExit`) are
    /// those failures, whatever wrote them, and say so.
    static let kernelStatuses: [(UInt32, Int32, String)] = [
        (2, 121, "a kernel assertion failed (exit status 2, with no report)"),
        (3, 123, "the kernel took an exception it could not handle (exit status 3, with no report)"),
        (4, 121, "the kernel panicked (exit status 4, with no report)"),
        (5, 123, "the kernel took an exception inside its exception handler (exit status 5)"),
        (6, 125, "the CPU lacks a feature the kernel needs: "),
    ]

    /// Every status means the same on both backends: on kvm written to the
    /// exit port; on tcg sent whole in an exit frame, then to isa-debug-exit.
    func testEveryStatusMeansTheSameOnBothBackends() throws {
        let binary = try KVMHostBinary()
        let statuses: [(UInt32, Int32)] = [(0, 0), (1, 1), (7, 7), (42, 42), (63, 63), (64, 120), (127, 120), (128, 120), (129, 120),
                                           (255, 120), (256, 120), (257, 120), (0x1_0000, 120), (0xFFFF_FFFF, 120)]
        var ran = 0
        for backend in Backend.allCases where backend.unavailableReason == nil {
            ran += 1
            for (status, expected) in statuses + Self.kernelStatuses.map({ ($0.0, $0.1) }) {
                var code = Code32()
                if backend == .tcg { code.sendExitFrame(status) }
                code.exit(status)
                let result = try binary.run(["--accel", "\(backend)", "--kernel", try kernelFile(code)])
                XCTAssertEqual(result.status, expected, "status \(status) on \(backend): \(result.stderr)")
                if let (_, _, reason) = Self.kernelStatuses.first(where: { $0.0 == status }) {
                    XCTAssertTrue(result.stderr.hasPrefix("kvmhost: guest failure: \(reason)"), "status \(status) on \(backend): \(result.stderr)")
                } else if expected == 120 {
                    XCTAssertEqual(result.stderr, "kvmhost: the guest exited with status \(status) (0x\(String(status, radix: 16))); "
                                   + "kvmhost exits 120 for guest statuses above 63\n", "on \(backend)")
                } else {
                    XCTAssertEqual(result.stderr, "", "status \(status) on \(backend)")
                }
            }
        }
        if ran < 2 { throw XCTSkip("this test compares kvm and tcg: \(Backend.allCases.compactMap(\.unavailableReason))") }
    }

    /// A guest that ends QEMU through isa-debug-exit without the exit frame
    /// gives 7 bits of its status: 0, 128 and 256 all end QEMU with 1.
    /// None of them reads as success, or as any status.
    func testAStatusQEMUCutToSevenBitsIsAFailure() throws {
        try requireQEMU()
        let binary = try KVMHostBinary()
        for status: UInt32 in [0, 1, 42, 128, 256, 0x8000_0000] {
            let result = try binary.run(["--accel", "tcg", "--kernel", try kernelFile(exiting(status))])
            XCTAssertEqual(result.status, 125, "status \(status): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("kvmhost: guest failure: the guest ended QEMU through isa-debug-exit without sending "
                                                  + "its whole status on the serial link first (LinkFrame.exit): QEMU keeps 7 bits "
                                                  + "(0x\(String(status & 0x7F, radix: 16))), so the status is unknown\n"), result.stderr)
        }
    }

    /// A kernel KVM refuses to load is refused the same on tcg, where QEMU
    /// loads it: not started over the firmware or past RAM.
    func testAKernelOutsideRAMIsRefusedOnBothBackends() throws {
        let binary = try KVMHostBinary()
        var ran = 0
        let places: [UInt64] = [0x0, 0xF0000, 0xFEE0_0000, 64 << 20]
        for backend in Backend.allCases where backend.unavailableReason == nil {
            ran += 1
            for address in places {
                var code = Code32()
                code.exit(0)
                let kernel = try kernelFile(code, records: [.init(physicalAddress: address, bytes: [1])])
                let result = try binary.run(["--accel", "\(backend)", "--kernel", kernel])
                XCTAssertEqual(result.status, 65, "\(hex(address)) on \(backend): \(result.stderr)")
                XCTAssertEqual(result.stderr, "kvmhost: the kernel image is not loadable: segment 1: [\(hex(address)), \(hex(address + 1))) "
                               + "is not inside the guest's usable RAM\n", "on \(backend)")
            }
        }
        if ran < 2 { throw XCTSkip("this test compares kvm and tcg: \(Backend.allCases.compactMap(\.unavailableReason))") }
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// QEMU dies with kvmhost however kvmhost ends: every signal that ends
    /// a process, SIGKILL included (QEMU's parent-death signal).
    func testQEMUNeverOutlivesKVMHost() throws {
        try requireQEMU()
        let binary = try KVMHostBinary()
        for signal in [SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGSEGV, SIGABRT, SIGBUS] {
            let process = Process()
            process.executableURL = binary.url
            process.arguments = ["--accel", "tcg", "--timeout", "none"]
            let input = Pipe()  // kept open: the monitor waits for input
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var qemu: [pid_t] = []
            for _ in 0..<200 where qemu.isEmpty {
                Thread.sleep(forTimeInterval: 0.05)
                qemu = Self.children(of: process.processIdentifier, named: "qemu-system-x86")
            }
            XCTAssertEqual(qemu.count, 1, "signal \(signal)")
            Thread.sleep(forTimeInterval: 0.5)
            let kvmhost = process.processIdentifier
            kill(kvmhost, signal)
            // QEMU goes at once, the input still open: a crash signal kills it
            // before the runtime's handler (which may wait) and the process's end.
            var alive = qemu
            for _ in 0..<100 where !alive.isEmpty {
                Thread.sleep(forTimeInterval: 0.05)
                alive = alive.filter { kill($0, 0) == 0 && !Self.isZombie($0) }
            }
            XCTAssertEqual(alive, [], "QEMU outlived kvmhost ended by signal \(signal)")
            // On this machine's kernel a core-dumping signal ends a process
            // blocked reading a pipe only once the pipe ends, whatever the
            // process: the input ends after the signal is taken.
            try? input.fileHandleForWriting.close()
            // Not waitUntilExit: its end is seen through /proc, reaped or not, within 10 s.
            for _ in 0..<200 where kill(kvmhost, 0) == 0 && !Self.isZombie(kvmhost) { Thread.sleep(forTimeInterval: 0.05) }
            XCTAssertTrue(kill(kvmhost, 0) != 0 || Self.isZombie(kvmhost), "kvmhost ended by signal \(signal)")
            for pid in alive { kill(pid, SIGKILL) }
            try? input.fileHandleForWriting.close()
        }
    }

    private static func children(of parent: pid_t, named name: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return stat.contains("(\(name)") && fields.count > 1 && fields[1] == "\(parent)"
        }
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    func testTimeoutValues() throws {
        let binary = try KVMHostBinary()
        for bad in ["1e10", "1e300", "1000000001", "nan", "-inf", "0", "-1", "0x10", "abc", "1e"] {
            let result = try binary.run(["--timeout=\(bad)"])
            XCTAssertEqual(result.status, 64, "--timeout \(bad): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("kvmhost: --timeout '\(bad)' "), result.stderr)
            XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
        }
        try requireKVM()
        let kernel = try kernelFile(exiting(42))
        for good in ["inf", "none", "INF", "1e9", "0.5", "30"] {
            XCTAssertEqual(try binary.run(["--kernel", kernel, "--timeout", good]).status, 42, "--timeout \(good)")
        }
    }

    /// A guest that sends a ready record every now and then, forever:
    /// --timeout covers the whole run.
    func testTimeoutHoldsForAChattyGuest() throws {
        try requireKVM()
        let flood = HostileRecords.flood(HostileRecords.ready(), delay: 20_000)
        let started = Date()
        let result = try KVMHostBinary().run(["--kernel", try writeTemporary(flood.kernel), "--timeout", "0.5", "--no-monitor"], timeout: 20)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(result.status, 124, result.stderr)
        XCTAssertTrue(result.stderr.contains("no answer within 0.5 seconds"), result.stderr)
        XCTAssertLessThan(elapsed, 1.5, "the deadline held (process start included)")
    }

    func testOutputThatCannotBeWritten() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        let full = try binary.run([], redirections: ">/dev/full", input: "mem\n")
        XCTAssertEqual(full.status, 74)
        XCTAssertEqual(full.stderr, "kvmhost: cannot write to standard output: No space left on device (errno 28); the guest was stopped\n")
        let closed = try binary.run([], redirections: ">&-", input: "mem\n")
        XCTAssertEqual(closed.status, 74)
        XCTAssertEqual(closed.stderr, "kvmhost: cannot write to standard output: Bad file descriptor (errno 9); the guest was stopped\n")
        let addressSpace = try binary.run(["address-space"], redirections: ">/dev/full")
        XCTAssertEqual(addressSpace.status, 74, addressSpace.stderr)
        // The guest's verdict survives a standard error nobody can write to.
        let tripleFault = try kernelFile({ var code = Code32(); code.tripleFault(); return code }())
        for redirection in ["2>/dev/full", "2>&-"] {
            XCTAssertEqual(try binary.run(["--kernel", tripleFault], redirections: redirection).status, 122, redirection)
            XCTAssertEqual(try binary.run(["--kernel", try kernelFile(exiting(7))], redirections: redirection).status, 7, redirection)
            XCTAssertEqual(try binary.run(["--kernel", try kernelFile(exiting(8)), "--trace-ports"], redirections: redirection).status, 8,
                           "tracing to \(redirection)")
            XCTAssertEqual(try binary.run(["--kernel", try kernelFile(exiting(300))], redirections: redirection).status, 120, redirection)
            XCTAssertEqual(try binary.run(["--memory", "1"], redirections: redirection).status, 64, redirection)
        }
    }

    func testConsoleCannotDriveTheTerminal() throws {
        try requireKVM()
        let hostile = "title\u{1B}]0;pwned\u{07} clip\u{1B}]52;c;aGk=\u{07} clear\u{1B}[2J reset\u{1B}c dcs\u{1B}Pq\u{1B}\\ "
            + "private\u{1B}[?1049h query\u{1B}[6n bell\u{07} c1\u{9B}31m "
            + "\u{1B}[31mred\u{1B}[0m \u{1B}[2K\u{1B}[3D tab\there é\n"
        let kernel = try writing(Array(hostile.utf8)) { $0.exit(0) }
        let result = try KVMHostBinary().run(["--kernel", kernel])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "title^[]0;pwned^G clip^[]52;c;aGk=^G clear^[[2J reset^[c dcs^[Pq^[\\ "
                       + "private^[[?1049h query^[[6n bell^G c1\\u{9b}31m "
                       + "\u{1B}[31mred\u{1B}[0m \u{1B}[2K\u{1B}[3D tab\there é\n")
    }

    /// What kvmhost itself prints about a guest escapes its control
    /// characters; and its message starts a line of its own.
    func testMessagesAboutTheGuestEscapeItsText() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        let console = try writing(Array("evil\u{1B}]0;x\u{07}\nunfinished".utf8)) { $0.tripleFault() }
        let separate = try binary.run(["--kernel", console])
        XCTAssertEqual(separate.status, 122)
        XCTAssertTrue(separate.stderr.contains("last console lines:\n  | evil\\x1b]0;x\\x07\n  | unfinished"), separate.stderr)
        XCTAssertFalse(separate.stderr.contains("\u{1B}"), "no raw escape on stderr")
        // stdout and stderr on one file: kvmhost's message starts a new line.
        let merged = try binary.run(["--kernel", console], redirections: "2>&1")
        XCTAssertTrue(merged.stdout.contains("unfinished\nkvmhost: guest failure: triple fault"), merged.stdout)

        let reason = Array("bad\u{1B}[2J\u{1B}]52;c;aGk=\u{07}\nkvmhost: fake line".utf8)
        let panicAddress: UInt32 = 0x200000
        var code = Code32()
        code.sendRecord(at: panicAddress)
        code.exit(0)
        let panic = try kernelFile(code, records: [.init(physicalAddress: UInt64(panicAddress),
                                                         bytes: HostileRecords.record(kind: RecordKind.panic, words: [0x99], text: reason))])
        let result = try binary.run(["--kernel", panic])
        XCTAssertEqual(result.status, 121)
        XCTAssertTrue(result.stderr.hasPrefix("kvmhost: guest failure: kernel panic: bad\\x1b[2J\\x1b]52;c;aGk=\\x07\\x0akvmhost: fake line (0x99)\n"),
                      result.stderr)
    }

    func testPortTraceShowsValues() throws {
        try requireKVM()
        let kernel = try writing(Array("hi".utf8)) { $0.exit(7) }
        let result = try KVMHostBinary().run(["--kernel", kernel, "--trace-ports"])
        XCTAssertEqual(result.status, 7)
        // This KVM delivers a `rep outsb` to COM1 as one exit per byte.
        XCTAssertEqual(result.stderr, "port out 0x3f8 size 1 x1: 0x68\nport out 0x3f8 size 1 x1: 0x69\nport out 0xf4 size 4 x1: 0x00000007\n")
        let monitor = try KVMHostBinary().run(["--trace-ports", "--no-monitor"])
        XCTAssertTrue(monitor.stderr.contains("port in  0x1000 size 4 x1: 0x"), "a read's value: \(monitor.stderr)")
    }

    func testBadArgumentsNameTheArgument() throws {
        let binary = try KVMHostBinary()
        let cases: [([String], String)] = [
            (["--reserve", "2000-1000"], "kvmhost: --reserve '2000-1000' START is not below END\n"),
            (["--reserve", "+1000-+2000"], "kvmhost: --reserve '+1000-+2000' START '+1000' is not a hexadecimal address\n"),
            (["--reserve", "0x1000"], "kvmhost: --reserve '0x1000' is not START-END, for example 0x800000-0xa00000\n"),
            (["--reserve", "1000-2000-3000"], "kvmhost: --reserve '1000-2000-3000' is not START-END, for example 0x800000-0xa00000\n"),
            (["--reserve", "0-10000000000000000"], "kvmhost: --reserve '0-10000000000000000' END '10000000000000000' does not fit 64 bits\n"),
            (["--memory=-1"], "kvmhost: --memory '-1' is not a size: a whole number with an optional unit K, M, G or T (MiB if none), for example 512 or 64G\n"),
            (["--memory", "1.5G"], "kvmhost: --memory '1.5G' is not a size: a whole number with an optional unit K, M, G or T (MiB if none), for example 512 or 64G\n"),
            (["--memory", "64Q"], "kvmhost: --memory '64Q' is not a size: a whole number with an optional unit K, M, G or T (MiB if none), for example 512 or 64G\n"),
            (["--memory", "99999999999999999999"], "kvmhost: --memory '99999999999999999999' must lie between 4 MiB and 256 GiB\n"),
            (["--memory", "18446744073709551615T"], "kvmhost: --memory '18446744073709551615T' must lie between 4 MiB and 256 GiB\n"),
            (["--memory", "257G"], "kvmhost: --memory '257G' must lie between 4 MiB and 256 GiB\n"),
            (["--memory", "4098K"], "kvmhost: --memory '4098K' is not a whole number of 4 KiB pages\n"),
            (["--reserve", "1001-2000"], "kvmhost: --reserve: the reserved range [0x1001, 0x2000) does not start and end on 4 KiB pages\n"),
            (["--memory", "16", "--reserve", "0x800000-0x2000000"],
             "kvmhost: --reserve: the reserved range [0x800000, 0x2000000) is not inside one range of guest RAM (16 MiB)\n"),
            (Array(repeating: ["--reserve", "0x200000-0x201000"], count: 257).flatMap { $0 },
             "kvmhost: --reserve '(257 ranges)' is given more than 256 times\n"),
        ]
        for (arguments, message) in cases {
            let result = try binary.run(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments.prefix(4))")
            XCTAssertEqual(result.stderr, message)
        }
    }

    func testReservedRangesTheGuestCannotTakeAreBadArguments() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        let overKernel = try binary.run(["--reserve", "0x100000-0x200000"])
        XCTAssertEqual(overKernel.status, 64)
        XCTAssertTrue(overKernel.stderr.hasPrefix("kvmhost: --reserve: the reserved range [0x100000, 0x200000) covers part of the kernel image at [0x100000, "),
                      overKernel.stderr)
        let allRAM = try binary.run(["--reserve", "0-4000000"])
        XCTAssertEqual(allRAM.stderr, "kvmhost: --reserve: the reserved ranges leave no usable RAM\n")
        XCTAssertEqual(allRAM.status, 64)
        // 63 one-page holes above the kernel make a map of 130 entries.
        let holes = (0..<63).flatMap { index -> [String] in
            let start = 0x1000000 + index * 0x10000
            return ["--reserve", String(start, radix: 16) + "-" + String(start + 0x1000, radix: 16)]
        }
        let tooMany = try binary.run(holes)
        XCTAssertEqual(tooMany.status, 64)
        XCTAssertEqual(tooMany.stderr, "kvmhost: --reserve: the memory map would have 130 entries; the guest takes 128\n")
        // One hole fewer fits, and the guest boots with all of it.
        let fits = try binary.run(Array(holes.dropLast(2)), input: "mem\n")
        XCTAssertEqual(fits.status, 0, fits.stderr)
        XCTAssertTrue(fits.stdout.contains("frames: total 16384"), fits.stdout)
    }

    func testKernelFilesLargerThanGuestMemoryAreRefusedUnread() throws {
        let path = NSTemporaryDirectory() + "kvmhost-sparse-\(UUID().uuidString).elf"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(truncate(path, 1 << 30), 0)
        let started = Date()
        let result = try KVMHostBinary().run(["--kernel", path, "--memory", "64"])
        XCTAssertEqual(result.status, 65)
        XCTAssertEqual(result.stderr, "kvmhost: cannot read the kernel image \(path): 1073741824 bytes is larger than guest memory (67108864 bytes)\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        let directory = try KVMHostBinary().run(["--kernel", NSTemporaryDirectory()])
        XCTAssertEqual(directory.status, 65)
        XCTAssertEqual(directory.stderr, "kvmhost: cannot read the kernel image \(NSTemporaryDirectory()): it is a directory, not a regular file\n")
    }

    func testEntryPointsOutsideLoadedCodeAreRefused() throws {
        let binary = try KVMHostBinary()
        let cases: [(String, UInt32)] = [("in the zeroed tail", 0x100100), ("above RAM", 0x7000_0000), ("in the start-info page", 0x1000)]
        for (name, entry) in cases {
            var builder = ELFBuilder(segments: [.init(physicalAddress: 0x100000, bytes: [0xF4], memorySize: 0x1000)], pvhEntry: entry)
            builder.segments[0].bytes = [0xF4]
            let result = try binary.run(["--kernel", try writeTemporary(builder.build())])
            XCTAssertEqual(result.status, 65, name)
            XCTAssertEqual(result.stderr, "kvmhost: the kernel image is not loadable: the PVH entry 0x\(String(entry, radix: 16)) "
                           + "is not inside the file bytes of any loadable segment\n", name)
        }
    }
}
