import Foundation
import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The gdb remote stub, driven by Debian's gdb in batch mode against a live
/// guest, and by a raw socket for the protocol's edge cases.
final class GDBStubTests: XCTestCase {
    /// A guest run on a thread of its own with the stub open and waiting
    /// before the first instruction; `finish` returns how the run ended.
    final class DebuggedGuest: @unchecked Sendable {
        private(set) var port: UInt16 = 0
        private let done = DispatchSemaphore(value: 0)
        private var outcome: Result<UInt32, Error>?
        private var opened: Result<UInt16, Error> = .failure(CancellationError())

        init(kernel: [UInt8], commands: [any GuestCall & Sendable] = [], wait: Bool = true, cpus: Int = 1) throws {
            let ready = DispatchSemaphore(value: 0)
            let thread = Thread { [self] in
                do {
                    var configuration = LiveGuest.Configuration(memorySize: 32 << 20)
                    configuration.cpuCount = cpus
                    let guest = try KVMGuest(kernel: kernel, configuration: configuration)
                    guest.debugger.log = { _ in }
                    opened = .success(try guest.attachDebugger(port: 0, waitForDebugger: wait))
                    ready.signal()
                    outcome = Result { try guest.runToExit(calls: commands) }
                } catch {
                    opened = .failure(error)
                    ready.signal()
                    outcome = .failure(error)
                }
                done.signal()
            }
            thread.start()
            ready.wait()
            port = try opened.get()
        }

        func finish(timeout: TimeInterval = 30) -> Result<UInt32, Error>? {
            done.wait(timeout: .now() + timeout) == .success ? outcome : nil
        }
    }

    private func gdbPath() throws -> String {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/gdb" }
        guard let found = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("gdb is not installed (Debian package gdb; .ci/run installs it): the stub's gdb session cannot run")
        }
        return found
    }

    /// Runs gdb in batch mode with `commands` against the stub; its output.
    private func gdb(_ commands: [String], port: UInt16) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try gdbPath())
        process.arguments = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "target remote 127.0.0.1:\(port)"]
            + commands.flatMap { ["-ex", $0] } + [GuestImage.kernelURL.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let killer = DispatchWorkItem { [process] in process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        return text
    }

    private func symbol(_ prefix: String) throws -> String {
        let names = try ELFSymbolTable(elf: GuestImage.kernel()).symbols.map(\.name)
        return try XCTUnwrap(names.first { $0.hasPrefix(prefix) }, prefix)
    }

    func testAGDBSession() throws {
        try requireKVM()
        _ = try gdbPath()
        let guest = try DebuggedGuest(kernel: GuestImage.kernel())
        let swiftMain = try symbol("$e11GuestKernel5kmainyySuF")
        let output = try gdb([
            "hbreak kmain", "continue",
            "hbreak '\(swiftMain)'", "continue",
            "bt",
            "info registers cr3 cr0 efer rip",
            "x/4gx $sp",
            "watch *(unsigned int *)&'$e11GuestKernel13ReportChannelO8sequence33_7FEFF886A9B448F0A8882E8E9F3FD089LLs6UInt32VvpZ'",
            "continue",
            "delete",
            "info registers rip", "stepi", "info registers rip",
            "monitor walk 0x7fff80109000",
            "detach",
        ], port: guest.port)
        if ProcessInfo.processInfo.environment["KVMHOST_GDB_TRACE"] != nil { print(output) }
        XCTAssertTrue(output.contains("Breakpoint 1, 0x00007fff801"), output)
        XCTAssertTrue(output.contains(" in kmain ()"), output)
        XCTAssertTrue(output.contains("Breakpoint 2, "), output)
        // bt: the Swift function and its callers, with file:line.
        XCTAssertTrue(output.contains("#0  $e11GuestKernel5kmainyySuF (") || output.contains("#0  0x00007fff8010"), output)
        XCTAssertTrue(output.range(of: #"#0 .*Main\.swift:\d+"#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"#\d .* kmain .*\n"#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"#\d .*pvh-entry\.S:\d+"#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"cr3 +0x[0-9a-f]+"#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"efer +0xd00"#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"0x7fff801[0-9a-f]{5}:\s+0x[0-9a-f]{16}\s+0x[0-9a-f]{16}\n0x7fff801[0-9a-f]{5}:\s+0x[0-9a-f]{16}\s+0x[0-9a-f]{16}"#,
                                    options: .regularExpression) != nil, "x/4gx reads the kernel stack: \(output)")
        XCTAssertTrue(output.contains("Old value = 0\nNew value = 1"), "the watchpoint fired: \(output)")
        let rips = output.matches(of: /rip +(0x[0-9a-f]+)/).map { String($0.1) }
        XCTAssertGreaterThanOrEqual(rips.count, 3, output)
        if rips.count >= 3 { XCTAssertNotEqual(rips[rips.count - 1], rips[rips.count - 2], "stepi advanced RIP") }
        XCTAssertTrue(output.contains("PML4[255] at 0x"), "monitor walk: \(output)")
        XCTAssertTrue(output.contains("[Inferior 1 (Remote target) detached]"), output)
        // Detached, the guest runs its course.
        XCTAssertEqual(try guest.finish()?.get(), 0)
    }

    /// With two CPUs each is a thread: a breakpoint the second CPU reaches
    /// stops the guest in thread 2, `info threads` lists both, each
    /// thread's registers and stack are its own CPU's, a step steps the
    /// selected CPU, and a watchpoint is refused saying why.
    func testEachCPUIsAThread() throws {
        try requireKVM()
        _ = try gdbPath()
        let guest = try DebuggedGuest(kernel: GuestImage.kernel(), cpus: 2)
        let output = try gdb([
            "hbreak kernel_ap_main", "continue",
            "info threads",
            "bt 1",
            "info registers rsp",
            "thread 1",
            "info registers rsp",
            "thread 2",
            "stepi", "info registers rip",
            "watch *(unsigned int *)&'$e11GuestKernel13ReportChannelO8sequence33_7FEFF886A9B448F0A8882E8E9F3FD089LLs6UInt32VvpZ'",
            "continue",
            "delete",
            "detach",
        ], port: guest.port)
        if ProcessInfo.processInfo.environment["KVMHOST_GDB_TRACE"] != nil { print(output) }
        XCTAssertTrue(output.contains("[Switching to Thread 2]"), output)
        XCTAssertTrue(output.contains("Thread 2 hit Breakpoint 1, "), output)
        // gdb names the frame by the C entry point, or (in the coverage kernel) by its Swift function.
        let entry = #"(kernel_ap_main|\$e11GuestKernel12kernelAPMain[^ ]*)"#
        XCTAssertTrue(output.range(of: #"\* 2    Thread 2 \(CPU 1 \(stopped here\)\) "# + entry, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"\n  1    Thread 1 \(CPU 0 \(paused\)\) "#, options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: "#0  " + entry + #" \("#, options: .regularExpression) != nil, output)
        // Each CPU's own stack: CPU 1's in the direct map, CPU 0's in the kernel's data.
        let stacks = output.matches(of: /rsp +(0x[0-9a-f]+)/).map { UInt64($0.1.dropFirst(2), radix: 16) ?? 0 }
        XCTAssertEqual(stacks.count, 2, output)
        if stacks.count == 2 {
            XCTAssertLessThan(stacks[0], 0x7fff_8000_0000, "CPU 1's stack is in the direct map: \(output)")
            XCTAssertGreaterThanOrEqual(stacks[1], 0x7fff_8000_0000, "CPU 0's stack is in the kernel's data: \(output)")
        }
        XCTAssertTrue(output.contains("[Switching to thread 1 (Thread 1)]"), output)
        let breakpoint = output.matches(of: /Hardware assisted breakpoint 1 at (0x[0-9a-f]+)/).map { String($0.1) }
        let stepped = output.matches(of: /rip +(0x[0-9a-f]+) +0x[0-9a-f]+ <kernel_ap_main\+\d+>/).map { String($0.1) }
        XCTAssertEqual(breakpoint.count, 1, output)
        XCTAssertEqual(stepped.count, 1, "stepi stepped CPU 1 in kernel_ap_main: \(output)")
        if let at = breakpoint.first, let after = stepped.first { XCTAssertNotEqual(at, after, "stepi advanced CPU 1's RIP") }
        XCTAssertTrue(output.contains("Could not insert hardware watchpoint 2."), "refused with several CPUs: \(output)")
        XCTAssertFalse(output.contains("hit Hardware watchpoint"), output)
        XCTAssertTrue(output.contains("[Inferior 1 (Remote target) detached]"), output)
        XCTAssertEqual(try guest.finish()?.get(), 0)
    }

    /// The gdb helpers (scripts/gdb/kvmhost.py) against a live process that
    /// faults: breakpoints by Swift name, with an ambiguous or unknown name
    /// refused and inlined copies reported; Swift names in backtraces; the
    /// page trap's decisions, the process, the frames and a page walk read
    /// from guest memory; listings and variables by Swift name.
    func testTheHelpersNameSwiftFunctionsAndReadTheKernel() throws {
        try requireKVM()
        _ = try gdbPath()
        let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Guest/Programs")
        let names = try FileManager.default.contentsOfDirectory(atPath: programs.path).filter { $0.hasSuffix(".S") }.sorted()
        let index = try XCTUnwrap(names.firstIndex(of: "wild-touch.S"), "wild-touch is built in")
        let guest = try DebuggedGuest(kernel: GuestImage.kernel(), commands: [RunProgram(index: UInt64(index), reportFaults: true, threads: 1)])
        XCTAssertTrue(GDBHelpers.scriptExists, GDBHelpers.scriptURL.path)
        let output = try gdb([
            "source \(GDBHelpers.scriptURL.path)",
            "swift break translate",
            "swift break NoSuchFunction",
            "swift break FrameAllocator.allocate",
            "info breakpoints",
            "delete",
            "swift break FrameAllocator.allocate --all",
            "swift break FrameAllocator.allocate --in NoSuchCaller",
            "swift break FrameAllocator.allocate --in MapPage --all",
            "info breakpoints",
            "swift break UserTraps.kill",
            "continue",
            "bt 1",
            "kernel faults",
            "kernel process",
            "kernel frames",
            "swift print PhysicalMemory.frames",
            "swift print CurrentProcess.threads",
            "kernel walk 0x50000000",
            "kernel walk $rip",
            "swift list Pagemap.map",
            "swift functions FrameAllocator.allocateContiguous",
            "delete",
            "detach",
        ], port: guest.port)
        if ProcessInfo.processInfo.environment["KVMHOST_GDB_TRACE"] != nil { print(output) }
        // A name that names two functions, and one that names none.
        XCTAssertTrue(output.contains("translate names 2 Swift functions; name one with more of its name or its parameter types "
                                      + "(as FrameAllocator.free(Frame)):\n  MonitorCommands.translate(MonitorWords) -> ()\n"
                                      + "  Pagemap.translate(VirtualAddress) -> Translation?\n"), output)
        XCTAssertTrue(output.contains("no Swift function named NoSuchFunction in guest"), output)
        // Inlined into many callers: its own code is covered, the copies are named and disabled.
        XCTAssertTrue(output.range(of: #"Breakpoint 1: FrameAllocator.allocate\(\) -> Frame\?\n  covers 0x7fff801[0-9a-f]{5}, out-of-line copy at FrameAllocator.swift:\d+\n  leaves (\d+) locations \(disabled: a call through them does not stop\):\n"#,
                                    options: .regularExpression) != nil, output)
        XCTAssertTrue(output.contains("    inlined into MapPage.perform() throws(CallError) -> UInt64"), output)
        XCTAssertTrue(output.contains("  cover the copies in one function with: swift break FrameAllocator.allocate --in CALLER (the start of its name, as listed)\n"), output)
        XCTAssertEqual(output.matches(of: /\n1\.\d+ +y\s/).count, 1, "one location enabled: \(output)")
        // Refusals name why, and leave no breakpoint behind.
        XCTAssertTrue(output.range(of: #"FrameAllocator.allocate\(\) -> Frame\? would take \d+ hardware breakpoints and 4 of the 4 are free; it has 1 out-of-line and \d+ inlined copies; cover fewer with --in CALLER, one of: "#,
                                    options: .regularExpression) != nil, output)
        XCTAssertTrue(output.contains("FrameAllocator.allocate() -> Frame? is not inlined into NoSuchCaller; it is inlined into: AccessCheckSpace.init()"), output)
        XCTAssertTrue(output.contains("--in and --all each choose the copies: give one"), output)
        XCTAssertTrue(output.contains("No breakpoints or watchpoints."), "the refusals left nothing: \(output)")
        // Stopped where the process is killed, named as in Swift.
        XCTAssertTrue(output.range(of: #"#0  UserTraps.kill\(_: FaultReason, address: UInt64, _: UnsafeMutablePointer<trap_frame>\) -> Never \("#,
                                    options: .regularExpression) != nil, output)
        // The page trap's decisions: the wild write refused, newest first.
        XCTAssertTrue(output.range(of: #"\d+ page-trap decisions since boot; the last \d+, newest first:\n  0x50000000 error 0x6 \(not present, write, user\) -> notAllocated\n"#,
                                    options: .regularExpression) != nil, output)
        // The process: its address space and reservations, by case name.
        XCTAssertTrue(output.range(of: #"process: running, 1 thread, address space at 0x[0-9a-f]+\nmemory space 0x0-0x8000000000, high-water mark 0x1000, 3 reservations\n"#
                                    + #"  0x0-0x1000 1 page, \.eager, flags 0x4\n  0x7ffffef000-0x7fffff0000 1 page, \.guardPage, flags 0x0\n"#
                                    + #"  0x7fffff0000-0x8000000000 16 pages, \.lazy, flags 0x8000000000000006\nkilled: no, status 0\n"#,
                                    options: .regularExpression) != nil, output)
        // The frame counts agree with the allocator's fields.
        let counts = try XCTUnwrap(output.firstMatch(of: /frames: total (\d+), free (\d+), used (\d+), reserved (\d+)\n/), output)
        let fields = try XCTUnwrap(output.firstMatch(of: /PhysicalMemory.frames = \{frameCount: (\d+)[^,]*, .* freeFrames: (\d+)[^,]*, usableFrames: (\d+)[^,]*, reservedUsableFrames: (\d+)[^,]*,/), output)
        XCTAssertEqual(counts.1, fields.1)
        XCTAssertEqual(counts.2, fields.2)
        XCTAssertEqual(Int(counts.3), Int(fields.3)! - Int(fields.4)! - Int(fields.2)!)
        XCTAssertEqual(Int(counts.1)!, 32 << 8, "32 MiB of 4 KiB frames")
        XCTAssertTrue(output.contains("CurrentProcess.threads = 1\n"), output)
        // Walks: the wild address is not mapped; the kernel's code is.
        XCTAssertTrue(output.range(of: #"0x50000000 through the tables at 0x[0-9a-f]+:\n  PML4\[0\] at 0x[0-9a-f]+ = 0x[0-9a-f]{16} present user accessed -> table 0x[0-9a-f]+\n  PDPT\[1\] at 0x[0-9a-f]+ = 0x0{16} not present\n  0x50000000 is not mapped\n"#,
                                    options: .regularExpression) != nil, output)
        XCTAssertTrue(output.range(of: #"  PT\[\d+\] at 0x[0-9a-f]+ = 0x[0-9a-f]{16} present accessed -> frame 0x[0-9a-f]+\n  0x7fff801[0-9a-f]{5} -> physical 0x[0-9a-f]+\n"#,
                                    options: .regularExpression) != nil, output)
        XCTAssertTrue(output.contains("public mutating func map(_ page: Page, to frame: Frame, flags: PageTableFlags,"), output)
        XCTAssertTrue(output.range(of: #"0x7fff801[0-9a-f]{5} +FrameAllocator.allocateContiguous\(count: UInt64, alignment: UInt64\) -> Frame\?\n"#,
                                    options: .regularExpression) != nil, output)
        XCTAssertFalse(output.contains("Traceback"), output)
        XCTAssertTrue(output.contains("[Inferior 1 (Remote target) detached]"), output)
        XCTAssertNotNil(try guest.finish()?.get())
    }

    /// Without a guest the helpers that read one refuse (gdb would read the
    /// ELF file's initial bytes as if they were the kernel's state); a
    /// demangler that lies about its output or hangs is refused once, and
    /// backtraces fall back to mangled names.
    func testTheHelpersRefuseWhatTheyCannotTrust() throws {
        let gdb = try gdbPath()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("helpers-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let liar = directory.appendingPathComponent("liar"), sleeper = directory.appendingPathComponent("sleeper")
        try "#!/bin/sh\necho HEADER\ncat\n".write(to: liar, atomically: true, encoding: .utf8)
        try "#!/bin/sh\nexec sleep 1000\n".write(to: sleeper, atomically: true, encoding: .utf8)
        for script in [liar, sleeper] { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path) }
        func run(_ commands: [String], environment: [String: String] = [:]) throws -> (String, TimeInterval) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: gdb)
            process.arguments = ["-batch", "-nx", "-x", GDBHelpers.scriptURL.path] + commands.flatMap { ["-ex", $0] } + [GuestImage.kernelURL.path]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            let started = Date()
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (text, Date().timeIntervalSince(started))
        }
        let (offline, _) = try run(["kernel process", "kernel frames", "kernel faults", "kernel walk 0x1000", "swift print CurrentProcess.threads",
                                    "swift functions Pagemap.translate"])
        XCTAssertEqual(offline.components(separatedBy: "no guest: attach to one first (kvmhost gdb PORT, or target remote 127.0.0.1:PORT)").count - 1, 5, offline)
        XCTAssertTrue(offline.contains("Pagemap.translate(VirtualAddress) -> Translation?"), "names need no guest: \(offline)")
        let (lied, _) = try run(["swift functions Pagemap.translate", "swift break Pagemap.translate"], environment: ["KVMHOST_SWIFT_DEMANGLE": liar.path])
        XCTAssertEqual(lied.components(separatedBy: "printed ").count - 1, 2, lied)
        XCTAssertTrue(lied.contains(" lines for ") && lied.contains(" names: not believed"), lied)
        XCTAssertFalse(lied.contains("Traceback"), lied)
        let (hung, seconds) = try run(["swift functions Pagemap.translate", "swift functions Pagemap.map"], environment: ["KVMHOST_SWIFT_DEMANGLE": sleeper.path])
        XCTAssertEqual(hung.components(separatedBy: "did not answer within 10 s (killed)").count - 1, 2, "refused, and not asked again: \(hung)")
        XCTAssertLessThan(seconds, 19, "asked once, not once a command")
    }

    /// A fifth hardware breakpoint is refused, and gdb itself says why
    /// (gdb 13 prints the text of an "E.1c.TEXT" reply to Z1).
    func testGDBSaysWhyABreakpointIsRefused() throws {
        try requireKVM()
        _ = try gdbPath()
        let guest = try DebuggedGuest(kernel: GuestImage.kernel())
        let kmain = try XCTUnwrap(try ELFSymbolTable(elf: GuestImage.kernel()).symbols.first { $0.name == "kmain" }, "kmain")
        let output = try gdb((0..<5).map { "hbreak *0x\(String(kmain.address + UInt64($0), radix: 16))" } + ["continue", "delete", "detach"],
                             port: guest.port)
        XCTAssertTrue(output.contains("Cannot insert hardware breakpoint 5:Remote failure reply: all 4 hardware breakpoints (DR0-DR3) "
                                      + "are in use, and this KVM cannot take a planted int3 in ring 0: delete one "
                                      + "(each location of an inlined function takes one)."), output)
        XCTAssertFalse(output.contains("Cannot insert hardware breakpoint 1"), output)
        XCTAssertTrue(output.contains("[Inferior 1 (Remote target) detached]"), output)
        XCTAssertEqual(try guest.finish()?.get(), 0)
    }

    // MARK: - The protocol on a raw socket

    func testProtocolEdgeCases() throws {
        try requireKVM()
        let guest = try DebuggedGuest(kernel: GuestImage.kernel(), commands: [Spin()])
        let client = try RemoteClient(port: guest.port)
        XCTAssertEqual(client.ask("?"), "T02thread:01;")
        let supported = try XCTUnwrap(client.ask("qSupported:multiprocess+;swbreak+;hwbreak+"))
        XCTAssertTrue(supported.contains("PacketSize=4000") && supported.contains("qXfer:features:read+"), supported)
        // The target description, in pieces, with the control registers.
        var xml = ""
        while true {
            let piece = try XCTUnwrap(client.ask("qXfer:features:read:target.xml:\(String(xml.utf8.count, radix: 16)),200"))
            xml += piece.dropFirst()
            if piece.first == "l" { break }
            XCTAssertEqual(piece.first, "m")
        }
        for register in ["rip", "eflags", "cr0", "cr2", "cr3", "cr4", "efer", "fs_base", "gs_base", "st7", "xmm15"] {
            XCTAssertTrue(xml.contains("<reg name=\"\(register)\""), register)
        }
        XCTAssertTrue(xml.contains("<architecture>i386:x86-64</architecture>"))
        // Malformed input: a bad checksum is refused with "-", noise between
        // packets is ignored, a packet far too long is dropped whole.
        client.sendRaw(Array("$g#00".utf8))
        XCTAssertEqual(client.next(), "-")
        client.sendRaw(Array("garbage without a dollar".utf8))
        client.sendRaw([UInt8(ascii: "$")] + [UInt8](repeating: UInt8(ascii: "m"), count: 100_000) + Array("#00".utf8))
        XCTAssertEqual(client.next(), "-")
        // Bad arguments, lengths beyond the packet size, unknown packets.
        XCTAssertEqual(client.ask("mzz,4"), "E01")
        XCTAssertEqual(client.ask("m0,ffffffffffffffff")?.count, RemotePacketReader.maximumPayload, "a huge length is cut to a packet")
        XCTAssertEqual(client.ask("m7fffffffffff0000,8"), "E0e", "unmapped")
        XCTAssertEqual(client.ask("p999"), "E01")
        XCTAssertEqual(client.ask("Z3,1000,4"), "", "read watchpoints are not offered")
        XCTAssertEqual(client.ask("vMustReplyEmpty"), "")
        XCTAssertEqual(client.ask("Z9,1000,1"), "")
        // Registers: 64 of them, the g packet in gdb's layout.
        let registers = try XCTUnwrap(client.ask("g"))
        XCTAssertEqual(registers.count, 2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8 + 5 * 8))
        XCTAssertEqual(client.ask("p10"), "1800100000000000", "RIP at the PVH entry 0x100018")
        // Four hardware breakpoints, and a fifth refused.
        for index in 0..<4 { XCTAssertEqual(client.ask("Z1,\(String(0x7fff80100000 + index, radix: 16)),1"), "OK") }
        XCTAssertEqual(client.ask("Z0,7fff80100010,1"), "E.1c.all 4 hardware breakpoints (DR0-DR3) are in use, and this KVM "
                       + "cannot take a planted int3 in ring 0: delete one (each location of an inlined function takes one)")
        XCTAssertEqual(client.ask("z1,7fff80100000,1"), "OK")
        XCTAssertEqual(client.ask("Z1,8000000000000000,1"), "E.1c.0x8000000000000000 is not a canonical address: no instruction is there")
        XCTAssertEqual(client.ask("Z1,7fff80100000,1"), "OK", "the slot is free again")
        XCTAssertEqual(client.ask("Z2,1000,0"), "E.1c.a watchpoint watches 1 to 8 bytes")
        for index in 0..<4 { XCTAssertEqual(client.ask("z1,\(String(0x7fff80100000 + index, radix: 16)),1"), "OK") }
        // Physical mode reads the start-info page's magic.
        XCTAssertEqual(client.ask("Qqemu.PhyMemMode:1"), "OK")
        XCTAssertEqual(client.ask("m1000,4"), "78c56e33")
        XCTAssertEqual(client.ask("Qqemu.PhyMemMode:0"), "OK")
        // monitor commands reach the host's walker.
        func monitor(_ line: String) throws -> String {
            let reply = try XCTUnwrap(client.ask("qRcmd," + Array(line.utf8).map { String(format: "%02x", $0) }.joined()))
            return String(decoding: try XCTUnwrap(hexBytes(reply)), as: UTF8.self)
        }
        // One line a command of the table, in its order.
        let help = try monitor("help")
        XCTAssertEqual(help.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") },
                       ["monitor walk", "monitor mem", "monitor regions", "monitor phys", "Addresses are"])
        XCTAssertTrue(try monitor("mem").contains("guest memory: 32 MiB"))
        // Numbers as everywhere else (NumberText); each mistake is named.
        XCTAssertTrue(try monitor("walk 7fff_8010_9000").contains("PML4[255] at 0x"))
        XCTAssertEqual(try monitor("walk 0xzz"), "'0xzz' is not an address (hexadecimal, 0x optional)\n")
        XCTAssertEqual(try monitor("walk"), "usage: monitor walk ADDRESS\n")
        XCTAssertEqual(try monitor("phys maybe"), "usage: monitor phys [on|off]\n")
        XCTAssertTrue(try monitor("bogus").hasPrefix("unknown monitor command 'bogus'\nmonitor walk ADDRESS"))
        // Run, then Ctrl-C stops the spinning guest.
        client.sendPacket("c")
        XCTAssertEqual(client.next(), "+")
        usleep(300_000)
        client.sendRaw([0x03])
        XCTAssertEqual(client.next(), "T02thread:01;")
        let rip = try XCTUnwrap(client.ask("p10"))
        XCTAssertTrue(rip.hasSuffix("ff7f0000"), "stopped in the kernel: \(rip)")
        // Threads: one CPU, thread 01; ids are hex digits only.
        XCTAssertEqual(client.ask("qfThreadInfo"), "m01")
        XCTAssertEqual(client.ask("T01"), "OK")
        for bad in ["T02", "T+1", "T0", "Hg+1", "Hg2", "Hgzz", "Hx1", "qThreadExtraInfo,+1", "qThreadExtraInfo,2"] {
            XCTAssertEqual(client.ask(bad), "E01", bad)
        }
        XCTAssertEqual(client.ask("Hg0"), "OK")
        XCTAssertEqual(client.ask("qThreadExtraInfo,01").flatMap(hexBytes).map { String(decoding: $0, as: UTF8.self) }, "CPU 0 (stopped here)")
        // A malformed or unsupported vCont resumes nothing.
        for bad in ["vCont;", "vCont;;", "vCont;x", "vCont;t", "vCont;r0,1", "vCont;s:2", "vCont;c:+1", "vCont;Szz"] {
            XCTAssertEqual(client.ask(bad), "E01", bad)
        }
        XCTAssertEqual(client.ask("?"), "T02thread:01;", "still stopped")
        // A Ctrl-C in the same write as the continue is not lost.
        client.sendRaw(RemotePacketReader.frame(Array("c".utf8)) + [0x03])
        XCTAssertEqual(client.next(), "+")
        XCTAssertEqual(client.next(), "T02thread:01;")
        // A client that disconnects mid-packet: the guest runs on, and the
        // stub takes the next debugger.
        client.sendRaw(Array("$m10".utf8))
        close(client.socket)
        let second = try RemoteClient(port: guest.port)
        XCTAssertEqual(second.ask("?"), "T02thread:01;", "the next debugger finds the guest stopped")
        XCTAssertEqual(second.ask("k") ?? "", "", "kill ends the run")
        guard case .failure(let error)? = guest.finish() else { return XCTFail("the run did not end") }
        XCTAssertEqual((error as? GuestFailure)?.kind, .stoppedByUser)
    }

    /// A CPU stopped in ring 3 is not stepped: this KVM would hand the
    /// step's #DB to the guest, killing the process. The step is refused
    /// saying why, and the process runs on unharmed until killed.
    func testAStepInUserModeIsRefused() throws {
        try requireKVM()
        // The kernel lists its programs in the order of their file names.
        let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Guest/Programs")
        let names = try FileManager.default.contentsOfDirectory(atPath: programs.path).filter { $0.hasSuffix(".S") }.sorted()
        let index = try XCTUnwrap(names.firstIndex(of: "user-spin.S"), "user-spin is built in")
        let guest = try DebuggedGuest(kernel: GuestImage.kernel(), commands: [RunProgram(index: UInt64(index), reportFaults: true, threads: 1)])
        let client = try RemoteClient(port: guest.port)
        XCTAssertEqual(client.ask("?"), "T02thread:01;")
        client.sendPacket("c")
        XCTAssertEqual(client.next(), "+")
        // One CPU, no interrupts: once in the program it stays in ring 3.
        var cs = ""
        for _ in 0..<50 where !cs.hasPrefix("2b") && !cs.hasPrefix("23") {
            usleep(100_000)
            client.sendRaw([0x03])
            XCTAssertEqual(client.next(), "T02thread:01;")
            cs = try XCTUnwrap(client.ask("p12"))
            if !cs.hasPrefix("2b") && !cs.hasPrefix("23") {
                client.sendPacket("c")
                XCTAssertEqual(client.next(), "+")
            }
        }
        XCTAssertEqual(cs.prefix(2).count, 2)
        XCTAssertEqual(UInt8(cs.prefix(2), radix: 16).map { $0 & 3 }, 3, "stopped in ring 3: CS \(cs)")
        let rip = client.ask("p10")
        XCTAssertEqual(client.ask("s"), "E.1c.CPU 0 is in user mode (ring 3), where this KVM gives a single step's debug exception to the "
                       + "guest (its process would die of it): step it in the kernel, or continue")
        XCTAssertEqual(client.ask("vCont;s:01;c")?.hasPrefix("E.1c.CPU 0 is in user mode (ring 3)"), true)
        XCTAssertEqual(client.ask("p10"), rip, "nothing ran")
        XCTAssertEqual(client.ask("k") ?? "", "", "kill ends the run")
        guard case .failure(let error)? = guest.finish() else { return XCTFail("the run did not end") }
        XCTAssertEqual((error as? GuestFailure)?.kind, .stoppedByUser, "the process was not killed by a #DB first")
    }

    /// Console input the test hands over when it chooses: one line per
    /// wait, once `give` was called; wakes like a terminal's.
    final class GatedInput: ConsoleInput, @unchecked Sendable {
        private let condition = NSCondition()
        private var lines: [String] = []
        private var woken = false

        func give(_ more: [String]) {
            condition.lock()
            lines += more
            condition.broadcast()
            condition.unlock()
        }

        func waitForInput(until deadline: Deadline) -> ConsoleInputEvent {
            condition.lock()
            defer { condition.unlock() }
            while true {
                if woken {
                    woken = false
                    return .woken
                }
                if !lines.isEmpty { return .bytes(Array((lines.removeFirst() + "\n").utf8)) }
                guard let remaining = deadline.remaining else {
                    condition.wait()
                    continue
                }
                guard remaining > .zero else { return .timedOut }
                _ = condition.wait(until: Date(timeIntervalSinceNow: min(Double(remaining.components.seconds) + 0.01, 3600)))
            }
        }

        func wake() {
            condition.lock()
            woken = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// A watchpoint single-steps the guest, and KVM never reports the
    /// `hlt` of a stepped guest as a halt: input typed at the monitor's
    /// prompt must reach the guest all the same, and the monitor run it.
    func testConsoleInputReachesAGuestSteppedForAWatchpoint() throws {
        try requireKVM()
        let kmain = try XCTUnwrap(try ELFSymbolTable(elf: GuestImage.kernel()).symbols.first { $0.name == "kmain" }, "kmain")
        let input = GatedInput()
        let session = MonitorUnderDebugger(input: input)
        let client = try RemoteClient(port: session.port)
        XCTAssertEqual(client.ask("?"), "T02thread:01;", "stopped for the debugger")
        // kmain's first bytes: code, mapped and never written.
        XCTAssertEqual(client.ask("Z2,\(String(kmain.address, radix: 16)),4"), "OK")
        client.sendPacket("c")
        XCTAssertEqual(client.next(), "+")
        usleep(200_000)  // stepped to the prompt's hlt
        input.give(["mem", "quit"])
        guard let outcome = session.outcome(within: 60) else {
            return XCTFail("the monitor never ran the line given while the guest was stepped")
        }
        let (reply, status, screen) = try outcome.get()
        XCTAssertEqual(reply, Done())
        XCTAssertEqual(status, 0)
        XCTAssertTrue(screen.contains("monitor> mem\n"), screen)
        XCTAssertTrue(screen.contains("frames: total 8192"), screen)
        XCTAssertEqual(client.next(), "W00", "gdb hears that the guest exited")
    }

    /// Hostile: a watchpoint on an unmapped address, then gdb gone while
    /// the guest is stepped. The watch never fires, input still arrives, and
    /// once the debugger has gone the guest runs on unstepped to its end.
    func testAWatchOnAnUnmappedAddressAndADebuggerGoneMidStep() throws {
        try requireKVM()
        let input = GatedInput()
        let session = MonitorUnderDebugger(input: input)
        let client = try RemoteClient(port: session.port)
        XCTAssertEqual(client.ask("?"), "T02thread:01;")
        XCTAssertEqual(client.ask("Z2,7fff00000000,8"), "OK", "unmapped: watched as unreadable until it changes")
        client.sendPacket("c")
        XCTAssertEqual(client.next(), "+")
        input.give(["mem"])
        usleep(300_000)
        close(client.socket)  // gone mid-step, without a detach
        usleep(300_000)
        input.give(["quit"])
        guard let outcome = session.outcome(within: 60) else {
            return XCTFail("the guest did not run on after the debugger went away")
        }
        let (reply, status, screen) = try outcome.get()
        XCTAssertEqual(reply, Done())
        XCTAssertEqual(status, 0)
        XCTAssertTrue(screen.contains("monitor> mem\n") && screen.contains("monitor> quit\n"), screen)
    }

    private func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

/// A guest on a thread of its own, stopped for a debugger before its first
/// instruction, that boots, runs the monitor on `input` and shuts down:
/// its reply, exit status and the monitor's screen come back as `outcome`.
private final class MonitorUnderDebugger: @unchecked Sendable {
    // Written by the guest's thread before `ready` or `done` is signalled.
    private(set) var port: UInt16 = 0
    private var stop: VCPUStopHandle?
    private var result: Result<(Done, UInt32, String), Error> = .failure(CancellationError())
    private let done = DispatchSemaphore(value: 0)

    init(input: ConsoleInput) {
        let ready = DispatchSemaphore(value: 0)
        Thread { [self] in
            result = Result {
                // One CPU, whatever KVMHOST_SMP says: write watchpoints are served with one only.
                var configuration = LiveGuest.Configuration(memorySize: 32 << 20)
                configuration.cpuCount = 1
                let guest = try KVMGuest(kernel: GuestImage.kernel(), configuration: configuration)
                guest.debugger.log = { _ in }
                guest.consoleInput = input
                stop = guest.stopHandle
                port = try guest.attachDebugger(port: 0)
                _ = try guest.boot()
                ready.signal()
                let before = guest.serial.text.count
                let done = try guest.call(RunMonitor())
                return (done, try guest.shutdown(), String(guest.serial.text.dropFirst(before)))
            }
            ready.signal()
            done.signal()
        }.start()
        ready.wait()
    }

    /// The run's outcome, or nil when it has not ended within `seconds`
    /// (it is stopped then).
    func outcome(within seconds: Double) -> Result<(Done, UInt32, String), Error>? {
        guard done.wait(timeout: .now() + seconds) == .success else {
            stop?.requestStop()
            _ = done.wait(timeout: .now() + 10)
            return nil
        }
        return result
    }
}

/// A failing run waits for a debugger when KVMHOST_GDB_ON_FAILURE names a
/// port, and reports its failure once the debugger has looked and detached.
final class DebugOnFailureTests: XCTestCase {
    func testAFailureWaitsForADebugger() throws {
        try requireKVM()
        let port = try freePort()
        setenv(LiveGuest.debugOnFailureVariable, String(port), 1)
        defer { unsetenv(LiveGuest.debugOnFailureVariable) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var kind: GuestFailure.Kind?
        Thread {
            do {
                let guest = try KVMGuest(kernel: GuestImage.kernel())
                guest.debugger.log = { _ in }
                _ = try guest.boot()
                _ = try guest.call(RaiseException(.pageFault(address: 0x4000_0000)))
            } catch let failure as GuestFailure {
                kind = failure.kind
            } catch {}
            done.signal()
        }.start()
        var client: RemoteClient?
        for _ in 0..<200 where client == nil {
            client = try? RemoteClient(port: port)
            if client == nil { usleep(50_000) }
        }
        let debugger = try XCTUnwrap(client, "the stub listens on \(port) after the failure")
        XCTAssertEqual(debugger.ask("?"), "T05thread:01;")
        let cr2 = try XCTUnwrap(debugger.ask("p3c"), "CR2, register 60")
        XCTAssertEqual(cr2, "0000004000000000", "the faulting address, as the guest left it")
        XCTAssertEqual(debugger.ask("D"), "OK")
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success)
        guard case .exception(let report)? = kind else { return XCTFail("\(String(describing: kind))") }
        XCTAssertEqual(report.cr2, 0x4000_0000, "the failure is reported after the debugger detached")
    }

    private func freePort() throws -> UInt16 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length)
                return getsockname(descriptor, pointer, &length)
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}
