import Foundation
import GuestImage
import KVMHost
import TestSupport
import XCTest

/// The kvmhost command: piped sessions, exit codes, the address-space view.
final class KVMHostCLITests: XCTestCase {
    private func temporaryKernel(_ code: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "kvmhost-test-\(UUID().uuidString).elf"
        try Data(ELFBuilder.guest(code: code).build()).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testPipedMonitorSessionEndsCleanlyWithItsInput() throws {
        try requireKVM()
        let result = try KVMHostBinary().run([], input: "mem\nbogus\ntranslate 0x7fff80109000\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("guest kernel: ready"), result.stdout)
        XCTAssertTrue(result.stdout.contains("frames: total 16384, free "), result.stdout)
        XCTAssertTrue(result.stdout.contains("error: unknown command 'bogus' (try help)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("0x00007fff80109000 -> 0x0000000000109000 r-x supervisor 4K"), result.stdout)
        let quit = try KVMHostBinary().run(["--memory", "32"], input: "quit\nmem\n")
        XCTAssertEqual(quit.status, 0)
        XCTAssertFalse(quit.stdout.contains("frames: total"), "nothing runs after quit")
    }

    /// The monitor's `check` prints the host's page-table check on the
    /// console: the same report a LiveGuest of the same kernel and size gets.
    func testTheMonitorsCheckPrintsTheHostsPageTableCheck() throws {
        try requireKVM()
        let guest = try LiveGuest(kernel: GuestImage.kernel())
        _ = try guest.boot()
        let expected = try guest.checkPageTables()
        XCTAssertEqual(expected.violations, [])
        let result = try KVMHostBinary().run([], input: "check\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("monitor> check\n\(expected)\nmonitor> "), result.stdout)
    }

    /// `--memory 64G`: about 16.7M usable frames, most of them above 4 GiB.
    func testASixtyFourGiBGuestShowsItsFramesAboveTheHole() throws {
        try requireKVM()
        let result = try KVMHostBinary().run(["--memory", "64G"], input: "mem\nquit\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("frames: total 17039360, free "), result.stdout)
        XCTAssertTrue(result.stdout.contains("usable RAM: 16777119 frames in 3 ranges, 15990784 of them above 4 GiB"), result.stdout)

        // Its snapshot keeps both ranges and goes on from its file (its
        // memory unreserved, as a fresh guest's: 64 GiB is more than this
        // host commits).
        let path = NSTemporaryDirectory() + "kvmhost-64g-\(UUID().uuidString).snapshot"
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(try KVMHostBinary().run(["--memory", "64G", "--save-snapshot", path], input: "quit\n").status, 0)
        let resumed = try KVMHostBinary().run(["--from-snapshot", path], input: "mem\nquit\n")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("usable RAM: 16777119 frames in 3 ranges, 15990784 of them above 4 GiB"), resumed.stdout)
    }

    /// The same piped session gives the same output on either accelerator.
    func testTheSameSessionOnBothAccelerators() throws {
        for backend in Backend.allCases {
            if let reason = backend.unavailableReason { throw XCTSkip("this test runs kvmhost on kvm and tcg: \(reason)") }
        }
        let binary = try KVMHostBinary()
        let session = "run int3-bench\nrun first-byte\nquit\n"
        let kvm = try binary.run(["--accel", "kvm"], input: session)
        let tcg = try binary.run(["--accel", "tcg"], input: session)
        XCTAssertEqual(kvm.status, 0, kvm.stderr)
        XCTAssertEqual(tcg.status, 0, tcg.stderr)
        XCTAssertTrue(kvm.stdout.contains("int3-bench exited with status 0, 0 demand faults"), kvm.stdout)
        XCTAssertEqual(tcg.stdout, kvm.stdout)
        XCTAssertEqual(tcg.stderr, kvm.stderr)

        // Each outcome's exit code, the same on both.
        var tripleFault = Code32()
        tripleFault.loadEmptyIDT()
        tripleFault.tripleFault()
        // tcg: the whole status in an exit frame on COM2 first (isa-debug-exit keeps 7 bits).
        var exit42 = Code32()
        exit42.sendExitFrame(42)
        exit42.exit(42)
        for accel in ["kvm", "tcg"] {
            let exiting = accel == "kvm" ? [0xB8, 42, 0, 0, 0, 0xE7, 0xF4] : exit42.bytes
            XCTAssertEqual(try binary.run(["--accel", accel, "--kernel", try temporaryKernel(exiting)]).status, 42, accel)
            XCTAssertEqual(try binary.run(["--accel", accel, "--kernel", try temporaryKernel(tripleFault.bytes)]).status, 122, accel)
            XCTAssertEqual(try binary.run(["--accel", accel, "--kernel", try temporaryKernel([0xEB, 0xFE]), "--timeout", "0.3"]).status, 124, accel)
            XCTAssertEqual(try binary.run(["--accel", accel], input: "fault\n").status, 123, accel)
        }
        let refused = try binary.run(["--accel", "tcg", "--trace-ports"])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--trace-ports needs --accel kvm"), refused.stderr)
        XCTAssertEqual(try binary.run(["--accel", "hvf"]).status, 64, "an accelerator kvmhost does not have")
    }

    /// `--cpu` as QEMU spells it, a leading minus included: the kernel boots
    /// and says what it took from CPUID; without long mode it stops with a
    /// report naming it; what the backend cannot give is refused unbooted.
    func testCPUFeaturesAreGivenAndTakenAwayAsQEMUSpellsThem() throws {
        let binary = try KVMHostBinary()
        var ran = 0
        for backend in Backend.allCases where backend.unavailableReason == nil {
            ran += 1
            let accel = backend == .kvm ? "kvm" : "tcg"
            let noNX = try binary.run(["--accel", accel, "--cpu", "-nx"], input: "cpu\nrun first-byte\nquit\n")
            XCTAssertEqual(noNX.status, 0, accel + noNX.stderr)
            XCTAssertTrue(noNX.stdout.contains("CPUID: +lm -nx -pdpe1gb "), accel + noNX.stdout)
            XCTAssertTrue(noNX.stdout.contains("kernel: EFER.NXE off (nothing is mapped no-execute), "), accel + noNX.stdout)
            XCTAssertTrue(noNX.stdout.contains("first-byte exited with status 0"), accel + noNX.stdout)

            let noLongMode = try binary.run(["--accel", accel, "--cpu", "-lm"])
            XCTAssertEqual(noLongMode.status, 125, accel)
            XCTAssertTrue(noLongMode.stderr.contains("the CPU lacks a feature the kernel needs: guest kernel: the CPU has no long mode "
                                                     + "(CPUID 0x80000001 EDX bit 29 lm); the kernel runs in long mode only"),
                          accel + noLongMode.stderr)
        }
        if Backend.tcg.unavailableReason == nil {
            let modes = try binary.run(["--accel", "tcg", "--memory", "2G", "--cpu", "+smep,+smap,+pdpe1gb"], input: "cpu\nquit\n")
            XCTAssertEqual(modes.status, 0, modes.stderr)
            XCTAssertTrue(modes.stdout.contains("CPUID: +lm +nx +pdpe1gb +smep +smap -pcid\n"), modes.stdout)
            XCTAssertTrue(modes.stdout.contains("kernel: EFER.NXE on, CR4.SMEP on, CR4.SMAP on\ndirect map in 1 GiB pages, "), modes.stdout)
        }
        if Backend.kvm.unavailableReason == nil {
            let refused = try binary.run(["--accel", "kvm", "--cpu", "+pdpe1gb"])
            XCTAssertEqual(refused.status, 64)
            XCTAssertEqual(refused.stderr, "kvmhost: --cpu: the kvm backend cannot give the guest pdpe1gb: this KVM's "
                                           + "KVM_GET_SUPPORTED_CPUID does not have it (CPUID 0x80000001 edx bit 26)\n")

            // A snapshot keeps its CPU: --from-snapshot goes on with it, and refuses another.
            let path = NSTemporaryDirectory() + "kvmhost-cpu-\(UUID().uuidString).snapshot"
            defer { try? FileManager.default.removeItem(atPath: path) }
            XCTAssertEqual(try binary.run(["--cpu", "-nx", "--save-snapshot", path], input: "quit\n").status, 0)
            let resumed = try binary.run(["--from-snapshot", path], input: "cpu\nquit\n")
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stdout.contains("CPUID: +lm -nx -pdpe1gb "), resumed.stdout)
            let otherCPU = try binary.run(["--from-snapshot", path, "--cpu", "-pdpe1gb"], input: "quit\n")
            XCTAssertEqual(otherCPU.status, 65)
            XCTAssertEqual(otherCPU.stderr, "kvmhost: snapshot: the snapshot's guest ran on -nx (--cpu), this one on -pdpe1gb: "
                                            + "its kernel chose its paging modes from the CPU it booted on\n")
        }
        let unknown = try binary.run(["--cpu", "-avx"])
        XCTAssertEqual(unknown.status, 64)
        XCTAssertTrue(unknown.stderr.contains("'avx' is not a feature kvmhost sets (features: lm, nx, pdpe1gb, smep, smap, pcid)"), unknown.stderr)
        if ran == 0 { throw XCTSkip("--cpu boots need /dev/kvm or QEMU: \(Backend.kvm.unavailableReason ?? ""); \(Backend.tcg.unavailableReason ?? "")") }
    }

    /// `--smp N`, as QEMU spells it: the monitor's `cpus` lists every CPU on
    /// both backends; KVMHOST_SMP sets the count where --smp does not; a
    /// count out of range, and a snapshot of several CPUs, are one line each.
    func testSeveralCPUsAsQEMUSpellsThem() throws {
        let binary = try KVMHostBinary()
        var ran = 0
        for backend in Backend.allCases where backend.unavailableReason == nil {
            ran += 1
            let accel = backend == .kvm ? "kvm" : "tcg"
            let two = try binary.run(["--accel", accel, "--smp", "2"], input: "cpus\nrun threads-stale 2\nrun threads-share 3\nquit\n")
            XCTAssertEqual(two.status, 0, accel + two.stderr)
            XCTAssertTrue(two.stdout.contains("monitor> cpus\ncpu 0: APIC ID 0, online, boot CPU, runs the monitor\n"
                                              + "cpu 1: APIC ID 1, online, idle\nmonitor> run"), accel + two.stdout)
            // Thread 1 reads the page thread 0 frees: its next read after the free faults.
            XCTAssertTrue(two.stdout.contains("threads-stale (2 threads) faulted in thread 1: not allocated at 0x0000000000002000, "),
                          accel + two.stdout)
            XCTAssertTrue(two.stdout.contains("error: run takes 1 to 2 threads (one a CPU online), not 3\nmonitor> quit"), accel + two.stdout)
            let fromVariable = try binary.run(["--accel", accel], input: "cpus\nquit\n", environment: ["KVMHOST_SMP": "3"])
            XCTAssertEqual(fromVariable.status, 0, accel + fromVariable.stderr)
            XCTAssertTrue(fromVariable.stdout.contains("cpu 2: APIC ID 2, online, idle\nmonitor> quit"), accel + fromVariable.stdout)
        }
        let tooMany = try binary.run(["--smp", "9"])
        XCTAssertEqual(tooMany.status, 64)
        XCTAssertEqual(tooMany.stderr, "kvmhost: --smp '9' must lie between 1 and 8 CPUs\n")
        let badVariable = try binary.run([], environment: ["KVMHOST_SMP": "many"])
        XCTAssertEqual(badVariable.status, 64)
        XCTAssertEqual(badVariable.stderr, "kvmhost: KVMHOST_SMP=many: it takes a CPU count, 1 to 8\n")
        if Backend.kvm.unavailableReason == nil {
            // A snapshot carries every CPU: saved with --smp 2, a session goes
            // on from it with two CPUs whatever KVMHOST_SMP says, thread 1
            // runs on CPU 1 again; an --smp that names another count is refused.
            let path = NSTemporaryDirectory() + "kvmhost-smp-\(UUID().uuidString).snapshot"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let saved = try binary.run(["--smp", "2", "--save-snapshot", path], input: "quit\n")
            XCTAssertEqual(saved.status, 0, saved.stderr)
            let resumed = try binary.run(["--from-snapshot", path], input: "cpus\nrun threads-stale 2\nquit\n", environment: ["KVMHOST_SMP": "3"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stdout.contains("cpu 0: APIC ID 0, online, boot CPU, runs the monitor\n"
                                                  + "cpu 1: APIC ID 1, online, idle\nmonitor> run"), resumed.stdout)
            XCTAssertTrue(resumed.stdout.contains("threads-stale (2 threads) faulted in thread 1: not allocated at 0x0000000000002000, "),
                          resumed.stdout)
            let otherCount = try binary.run(["--from-snapshot", path, "--smp", "1"])
            XCTAssertEqual(otherCount.status, 64)
            XCTAssertEqual(otherCount.stderr, "kvmhost: snapshot: the snapshot is of a guest of 2 CPUs, this one has 1: "
                                              + "a snapshot goes on with as many CPUs as it was taken with\n")
            XCTAssertEqual(try binary.run(["--from-snapshot", path, "--smp", "2"], input: "quit\n").status, 0)
            // The start-up page must be RAM.
            let reserved = try binary.run(["--smp", "2", "--reserve", "0x8000-0x9000"])
            XCTAssertEqual(reserved.status, 64)
            XCTAssertTrue(reserved.stderr.contains("several CPUs need usable RAM at 0x8000-0x9000"), reserved.stderr)
        }
        if ran == 0 { throw XCTSkip("--smp boots need /dev/kvm or QEMU: \(Backend.kvm.unavailableReason ?? ""); \(Backend.tcg.unavailableReason ?? "")") }
    }

    /// --save-snapshot after the ready report, --from-snapshot instead of a
    /// boot: the same monitor session gives the same transcript; a damaged
    /// file is one clear line and the bad-image exit code.
    func testASessionGoesOnFromASavedSnapshot() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ready.snapshot").path
        let session = "run lazy-touch\nmem\nquit\n"
        let saved = try binary.run(["boot", "--save-snapshot", path], input: session)
        XCTAssertEqual(saved.status, 0, saved.stderr)
        XCTAssertEqual(saved.stderr, "kvmhost: snapshot saved to \(path)\n")
        let resumed = try binary.run(["boot", "--from-snapshot", path], input: session)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(resumed.stderr, "")
        // The boot's lines came before the snapshot, the rest after it: the
        // same on both.
        XCTAssertTrue(saved.stdout.hasSuffix(resumed.stdout), "saved:\n\(saved.stdout)\nresumed:\n\(resumed.stdout)")
        XCTAssertTrue(saved.stdout.contains("guest kernel: long mode"), saved.stdout)
        XCTAssertFalse(resumed.stdout.contains("guest kernel: long mode"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.hasPrefix("guest kernel: ready\nkernel monitor:"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("lazy-touch exited with status 0"), resumed.stdout)

        let cut = directory.appendingPathComponent("cut.snapshot").path
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(200)).write(to: URL(fileURLWithPath: cut))
        let refused = try binary.run(["boot", "--from-snapshot", cut])
        XCTAssertEqual(refused.status, 65)
        XCTAssertTrue(refused.stderr.hasPrefix("kvmhost: snapshot file: the snapshot is cut short in section VCPU:"), refused.stderr)
        let tcg = try binary.run(["boot", "--accel", "tcg", "--save-snapshot", path])
        XCTAssertEqual(tcg.status, 64, tcg.stderr)
        XCTAssertTrue(tcg.stderr.contains("snapshots need --accel kvm"), tcg.stderr)
        // Going on from one snapshot and saving another at the ready report, which was passed: refused, nothing written.
        let both = try binary.run(["boot", "--from-snapshot", path, "--save-snapshot", path + ".again"])
        XCTAssertEqual(both.status, 64, both.stderr)
        XCTAssertTrue(both.stderr.contains("--from-snapshot goes on after the ready report; --save-snapshot saves at it"), both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".again"))
    }

    func testExitCodesNameEachOutcome() throws {
        try requireKVM()
        let binary = try KVMHostBinary()
        XCTAssertEqual(try binary.run(["--kernel", try temporaryKernel([0xB8, 42, 0, 0, 0, 0xE7, 0xF4])]).status, 42,
                       "the guest's own status")
        XCTAssertEqual(try binary.run(["--kernel", try temporaryKernel([0x0F, 0x0B])]).status, 122, "triple fault")
        XCTAssertEqual(try binary.run(["--kernel", try temporaryKernel([0xEB, 0xFE]), "--timeout", "0.3"]).status, 124, "timeout")
        XCTAssertEqual(try binary.run(["--kernel", try temporaryKernel([0xE6, 0x80])]).status, 125, "unknown port")
        let fault = try binary.run([], input: "fault\n")
        XCTAssertEqual(fault.status, 123, "kernel exception")
        XCTAssertTrue(fault.stderr.contains("#PF page fault"), fault.stderr)
        XCTAssertTrue(fault.stderr.contains("walk of 0x0"), fault.stderr)
        // The faulting function, its .swift file:line, and the calls that led there.
        XCTAssertTrue(fault.stderr.contains("\nat 0x7fff"), fault.stderr)
        XCTAssertTrue(fault.stderr.contains(" in static GuestKernel.Monitor.execute(GuestKernel.MonitorWords) -> Swift.Optional<GuestKernel.MonitorCommand> + 0x"), fault.stderr)
        XCTAssertTrue(fault.stderr.contains("Sources/Guest/Kernel/Monitor/Monitor.swift:"), fault.stderr)
        XCTAssertTrue(fault.stderr.contains("  #1 0x7fff"), fault.stderr)
        XCTAssertTrue(fault.stderr.contains(" in static GuestKernel.CallDispatcher.run() -> Swift.Never + 0x"), fault.stderr)
    }

    func testBadInputIsOneClearLine() throws {
        let binary = try KVMHostBinary()
        let missing = try binary.run(["--kernel", "/nonexistent/guest.elf"])
        XCTAssertEqual(missing.status, 65)
        XCTAssertEqual(missing.stderr, "kvmhost: cannot read the kernel image /nonexistent/guest.elf: no such file\n")
        let garbage = NSTemporaryDirectory() + "kvmhost-garbage-\(UUID().uuidString)"
        try Data("not an ELF at all, just text".utf8).write(to: URL(fileURLWithPath: garbage))
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        let malformed = try binary.run(["--kernel", garbage])
        XCTAssertEqual(malformed.status, 65)
        XCTAssertEqual(malformed.stderr, "kvmhost: the kernel image is not loadable: the image has 28 bytes, fewer than an ELF64 header\n")
        let size = try binary.run(["--memory", "2"])
        XCTAssertEqual(size.status, 64)
        XCTAssertEqual(size.stderr, "kvmhost: --memory '2' must lie between 4 MiB and 256 GiB\n")
        let range = try binary.run(["--reserve", "zz"])
        XCTAssertEqual(range.status, 64)
        XCTAssertEqual(range.stderr.split(separator: "\n").count, 1, range.stderr)
        XCTAssertEqual(try binary.run(["--timeout", "-1"]).status, 64)
        XCTAssertEqual(try binary.run(["--no-such-option"]).status, 64, "ArgumentParser's own usage errors")
    }

    func testAddressSpaceViewListsTheKernelRegions() throws {
        try requireKVM()
        let result = try KVMHostBinary().run(["address-space"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("0x00007f8000000000-0x00007f8004000000  64 MiB   rw- supervisor 2M pages -> 0x0000000000000000"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("r-x supervisor 4K pages -> 0x0000000000109000"), result.stdout)
        XCTAssertTrue(result.stdout.contains("2 MiB    rw- supervisor 2M pages"), "the heap: \(result.stdout)")
        XCTAssertFalse(result.stdout.contains("user"), "nothing user-accessible in the kernel's address space")
    }

    func testPortTracing() throws {
        try requireKVM()
        let result = try KVMHostBinary().run(["--trace-ports", "--no-monitor"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("port in  0x1000 size 4 x1"), result.stderr)
        XCTAssertTrue(result.stderr.contains("port out 0xf4 size 4 x1"), result.stderr)
    }

    func testKernelPathNamesTheBuiltGuest() throws {
        let result = try KVMHostBinary().run(["kernel-path"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let path = result.stdout.trimmingCharacters(in: .newlines)
        XCTAssertEqual(path, GuestImage.kernelURL.path)
        XCTAssertEqual(FileManager.default.contents(atPath: path)?.prefix(4), Data([0x7F, 0x45, 0x4C, 0x46]))
    }

    /// --gdb with --gdb-wait: the guest waits before its first instruction;
    /// once gdb continues it runs to its end, and gdb is told the status.
    func testGDBWaitStopsBeforeTheFirstInstruction() throws {
        try requireKVM()
        let process = Process()
        process.executableURL = try KVMHostBinary().url
        process.arguments = ["--gdb", "0", "--gdb-wait", "--no-monitor"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var text = ""
        // The stub's one line (its kernel path is guest.elf or, under scripts/coverage, guest-coverage.elf).
        while !text.contains("\n"), let chunk = try errors.fileHandleForReading.read(upToCount: 1), !chunk.isEmpty {
            text += String(decoding: chunk, as: UTF8.self)
        }
        let match = try XCTUnwrap(text.firstMatch(of: /kvmhost: gdb stub on 127\.0\.0\.1:(\d+): gdb -q -x \S+ -ex 'target remote 127\.0\.0\.1:\1' \//), text)
        let debugger = try RemoteClient(port: try XCTUnwrap(UInt16(match.1)))
        XCTAssertEqual(debugger.ask("?"), "T02thread:01;")
        XCTAssertEqual(debugger.ask("p10"), "1800100000000000", "at the PVH entry, 0x100018")
        XCTAssertEqual(debugger.ask("c"), "W00", "the guest ran to its end and exited 0")
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(try KVMHostBinary().run(["--gdb-wait"]).status, 64, "--gdb-wait needs --gdb")
    }
}
