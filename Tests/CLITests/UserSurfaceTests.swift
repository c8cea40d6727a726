import Foundation
import GuestImage
import KVMHost
import TestSupport
import XCTest

/// What a user hands kvmhost that is not what it should be: paths that are
/// devices, FIFOs, directories or missing; environment variables with bad
/// values; options that cannot go together; a port that is taken; a kernel
/// whose coverage sections lie; a symbolizer that hangs or floods. Each is
/// one line naming it and the status docs/kvmhost.md gives.
final class UserSurfaceTests: XCTestCase {
    private var temporary: TemporaryDirectory!
    private var directory: String { temporary.path }

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory(prefix: "kvmhost-surface")
    }

    override func tearDownWithError() throws {
        temporary = nil
    }

    private func fileType(_ path: String) -> mode_t { TemporaryDirectory.fileType(path) }

    /// #5: a snapshot saved to /dev/null or /dev/full is written into the
    /// device, which stays a device; /dev/full's error is output lost (74).
    func testSavingASnapshotToADeviceWritesTheDevice() throws {
        try requireKVM()
        let null = try KVMHostBinary().run(["--save-snapshot", "/dev/null"], input: "quit\n")
        XCTAssertEqual(null.status, 0, null.stderr)
        XCTAssertEqual(null.stderr, "kvmhost: snapshot saved to /dev/null\n")
        XCTAssertEqual(fileType("/dev/null"), S_IFCHR, "/dev/null is still a character device")
        let full = try KVMHostBinary().run(["--save-snapshot", "/dev/full"], input: "quit\n")
        XCTAssertEqual(full.status, 74, full.stderr)
        XCTAssertEqual(full.stderr, "kvmhost: cannot write /dev/full: No space left on device (errno 28)\n")
        XCTAssertEqual(fileType("/dev/full"), S_IFCHR, "/dev/full is still a character device")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/full.partial-\(getpid())"))
    }

    /// #6: a directory, or a path in a missing directory, is output that
    /// cannot be written (74), not a bad kernel image (65).
    func testSavingWhereNoFileCanBeIsOutputLost() throws {
        try requireKVM()
        let onDirectory = try KVMHostBinary().run(["--save-snapshot", directory], input: "quit\n")
        XCTAssertEqual(onDirectory.status, 74, onDirectory.stderr)
        XCTAssertEqual(onDirectory.stderr, "kvmhost: cannot write \(directory): it is a directory; "
                       + "kvmhost writes a regular file, a character device or a FIFO\n")
        XCTAssertEqual(fileType(directory), S_IFDIR)
        let missing = directory + "/no-such-directory/guest.snapshot"
        let inMissing = try KVMHostBinary().run(["--save-snapshot", missing], input: "quit\n")
        XCTAssertEqual(inMissing.status, 74, inMissing.stderr)
        XCTAssertEqual(inMissing.stderr, "kvmhost: cannot write \(missing): its directory does not exist "
                       + "(No such file or directory (errno 2))\n")
        // A FIFO nothing reads is refused at once, never waited on.
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let toFIFO = try KVMHostBinary().run(["--save-snapshot", fifo], input: "quit\n", timeout: 20)
        XCTAssertEqual(toFIFO.status, 74, toFIFO.stderr)
        XCTAssertEqual(toFIFO.stderr, "kvmhost: cannot write \(fifo): it is a FIFO that nothing reads\n")
        XCTAssertEqual(fileType(fifo), S_IFIFO)
    }

    /// #6: profiles asked for in a directory that is not there are a
    /// failure (74), before anything runs.
    func testACoverageDirectoryThatIsNotThereIsOutputLost() throws {
        let result = try KVMHostBinary().run(["--no-monitor"], environment: ["KVMHOST_COVERAGE_DIR": directory + "/missing"])
        XCTAssertEqual(result.status, 74, result.stderr)
        XCTAssertEqual(result.stderr, "kvmhost: KVMHOST_COVERAGE_DIR=\(directory)/missing: it takes an existing directory; "
                       + "the guests' coverage profiles cannot be written there\n")
    }

    /// The environment variables the library and kvmhost read (every
    /// `environment["..."]` under Sources/), each with a bad value: 64 and
    /// a line naming the variable.
    static let badValues: [(variable: String, value: String, message: String)] = [
        ("KVMHOST_GUEST_VARIANT", "garbage", "kvmhost: KVMHOST_GUEST_VARIANT=garbage: it takes plain or coverage\n"),
        ("KVMHOST_GDB_ON_FAILURE", "gdb", "kvmhost: KVMHOST_GDB_ON_FAILURE=gdb: it takes a TCP port, 1 to 65535\n"),
        ("KVMHOST_GDB_ON_FAILURE", "70000", "kvmhost: KVMHOST_GDB_ON_FAILURE=70000: it takes a TCP port, 1 to 65535\n"),
        ("KVMHOST_GDB_TRACE", "0", "kvmhost: KVMHOST_GDB_TRACE=0: it takes 1 (or unset)\n"),
        ("KVMHOST_GDB_ON_FAILURE", "+1", "kvmhost: KVMHOST_GDB_ON_FAILURE=+1: it takes a TCP port, 1 to 65535\n"),
        ("KVMHOST_GDB_ON_FAILURE", String(repeating: "9", count: 100_000),
         "kvmhost: KVMHOST_GDB_ON_FAILURE=\(String(repeating: "9", count: 200))... (100000 bytes): it takes a TCP port, 1 to 65535\n"),
        ("KVMHOST_LLVM_SYMBOLIZER", "/nonexistent/llvm-symbolizer",
         "kvmhost: KVMHOST_LLVM_SYMBOLIZER=/nonexistent/llvm-symbolizer: it takes the path of an executable file\n"),
        ("KVMHOST_LLVM_SYMBOLIZER", "/tmp", "kvmhost: KVMHOST_LLVM_SYMBOLIZER=/tmp: it takes the path of an executable file\n"),
        ("KVMHOST_GDB", "/dev/null", "kvmhost: KVMHOST_GDB=/dev/null: it takes the path of an executable file\n"),
        ("KVMHOST_GDB", "", "kvmhost: KVMHOST_GDB=: it takes the path of an executable file\n"),
        ("KVMHOST_GUEST_KERNEL", "/tmp", "kvmhost: KVMHOST_GUEST_KERNEL=/tmp: it takes the path of a readable regular file (a kernel image)\n"),
        ("KVMHOST_GUEST_KERNEL", "/dev/zero",
         "kvmhost: KVMHOST_GUEST_KERNEL=/dev/zero: it takes the path of a readable regular file (a kernel image)\n"),
        ("KVMHOST_SMP", "0", "kvmhost: KVMHOST_SMP=0: it takes a CPU count, 1 to 8\n"),
        ("KVMHOST_SMP", "2 ", "kvmhost: KVMHOST_SMP=2 : it takes a CPU count, 1 to 8\n"),
        ("KVMHOST_GUEST_KERNEL", "/nonexistent\u{1b}[2J",
         "kvmhost: KVMHOST_GUEST_KERNEL=/nonexistent\\u{1b}[2J: it takes the path of a readable regular file (a kernel image)\n"),
    ]

    /// #10: every variable, a bad value each, on every subcommand's path.
    func testEveryEnvironmentVariableIsCheckedByName() throws {
        for (variable, value, message) in Self.badValues {
            for arguments in [["--no-monitor"], ["kernel-path"], ["address-space"], ["gdb", "1"]] {
                let result = try KVMHostBinary().run(arguments, environment: [variable: value])
                XCTAssertEqual(result.status, 64, "\(variable)=\(value) \(arguments): \(result.stderr)")
                XCTAssertEqual(result.stderr, message, "\(variable)=\(value) \(arguments)")
            }
        }
    }

    /// The table above covers every variable Sources/ reads (PATH is the
    /// system's: any list of directories; a tool missing from it is named).
    func testTheTableNamesEveryVariableTheSourcesRead() throws {
        let sources = KVMHostBinary.packageRoot.appendingPathComponent("Sources")
        var read: Set<String> = []
        let enumerator = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path))
        while let file = enumerator.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            let pattern = try NSRegularExpression(pattern: #"environment\[(?:"([A-Z_]+)"|([A-Za-z.]+))\]"#)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let literal = Range(match.range(at: 1), in: text) { read.insert(String(text[literal])) }
                if let name = Range(match.range(at: 2), in: text) { read.insert(String(text[name])) }
            }
        }
        let constants = ["variantVariable": "KVMHOST_GUEST_VARIANT", "kernelVariable": "KVMHOST_GUEST_KERNEL", "Self.debugOnFailureVariable": "KVMHOST_GDB_ON_FAILURE",
                         "LiveGuest.debugOnFailureVariable": "KVMHOST_GDB_ON_FAILURE",
                         "override": "KVMHOST_LLVM_SYMBOLIZER", "KVMHostEnvironment.llvmSymbolizer": "KVMHOST_LLVM_SYMBOLIZER",
                         "KVMHostEnvironment.coverageDirectory": "KVMHOST_COVERAGE_DIR", "coverageDirectory": "KVMHOST_COVERAGE_DIR",
                         "KVMHostEnvironment.gdb": "KVMHOST_GDB", "gdb": "KVMHOST_GDB", "gdbOnFailure": "KVMHOST_GDB_ON_FAILURE", "gdbTrace": "KVMHOST_GDB_TRACE", "llvmSymbolizer": "KVMHOST_LLVM_SYMBOLIZER",
                         "cpuCount": "KVMHOST_SMP"]
        let variables = Set(read.map { constants[$0] ?? $0 }).subtracting(["PATH"])
        XCTAssertEqual(variables, Set(Self.badValues.map(\.variable)).union(["KVMHOST_COVERAGE_DIR"]),
                       "a variable read under Sources/ and not checked here (or the other way)")
        XCTAssertEqual(Set(KVMHostEnvironment.variables + [GuestImage.variantVariable, GuestImage.kernelVariable]), variables)
    }

    /// `kvmhost gdb PORT` becomes gdb with the kernel, the helpers and the
    /// stub's address; what it cannot run it refuses with its status.
    func testGDBSubcommand() throws {
        let fake = directory + "/fake-gdb"
        XCTAssertTrue(FileManager.default.createFile(atPath: fake, contents: Data("#!/bin/sh\nprintf '%s\\n' \"$@\"\n".utf8),
                                                     attributes: [.posixPermissions: 0o755]))
        let attached = try KVMHostBinary().run(["gdb", "1234", "--", "-batch", "-ex", "info threads"], environment: ["KVMHOST_GDB": fake])
        XCTAssertEqual(attached.status, 0, attached.stderr)
        XCTAssertEqual(attached.stdout, ["-q", "-x", GDBHelpers.scriptURL.path, "-ex", "target remote 127.0.0.1:1234",
                                         "-batch", "-ex", "info threads", GuestImage.kernelURL.path].map { $0 + "\n" }.joined(),
                       "gdb's options before the kernel: a word among them is never a core file or PID")
        let coverage = try KVMHostBinary().run(["gdb", "1", "--coverage"], environment: ["KVMHOST_GDB": fake])
        XCTAssertTrue(coverage.stdout.hasSuffix(GuestImage.coverageKernelURL.path + "\n"), coverage.stdout)
        for (arguments, status, message) in [
            (["gdb", "0"], Int32(64), "Error: gdb attaches to a stub's port, 1 to 65535, not '0' (kvmhost --gdb 0 prints the port it took)\n"),
            (["gdb", "65536"], 64, "Error: gdb attaches to a stub's port, 1 to 65535, not '65536' (kvmhost --gdb 0 prints the port it took)\n"),
            (["gdb", "+80"], 64, "Error: gdb attaches to a stub's port, 1 to 65535, not '+80' (kvmhost --gdb 0 prints the port it took)\n"),
            (["gdb", "1", "--kernel", directory], 65,
             "kvmhost: cannot read the kernel image \(directory): it is a directory, not a regular file (it gives gdb the kernel's symbols)\n"),
            (["gdb", "1", "--kernel", "/dev/null"], 65,
             "kvmhost: cannot read the kernel image /dev/null: it is a character device, not a regular file (it gives gdb the kernel's symbols)\n"),
            (["gdb", "1", "--kernel", directory + "/none"], 65,
             "kvmhost: cannot read the kernel image \(directory)/none: no such file (it gives gdb the kernel's symbols)\n"),
            (["gdb", "1", "--kernel", fake, "--coverage"], 64, "Error: --kernel and --coverage each name the kernel: give one\n"),
        ] {
            let result = try KVMHostBinary().run(arguments, environment: ["KVMHOST_GDB": fake])
            XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
        }
        let noGDB = try KVMHostBinary().run(["gdb", "1"], environment: ["PATH": directory + "/none"])
        XCTAssertEqual(noGDB.status, 69, noGDB.stderr)
        XCTAssertEqual(noGDB.stderr, "kvmhost: gdb is not on PATH (Debian: apt-get install gdb), and KVMHOST_GDB is not set\n")
    }

    /// Where /dev/kvm is no KVM device (here: /dev/null mounted over it, in a
    /// mount namespace of its own), kvmhost says so, suggests QEMU TCG, and
    /// exits 126.
    func testWithoutKVMTheMessageSuggestsTCG() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            throw XCTSkip("needs root and unshare(1) to hide /dev/kvm in a mount namespace")
        }
        let binary = try KVMHostBinary()
        let result = try binary.run(program: "/usr/bin/unshare",
                                    ["-m", "sh", "-c", "mount --bind /dev/null /dev/kvm && exec \"$0\" --no-monitor", binary.url.path])
        XCTAssertEqual(result.status, 126, result.stderr)
        XCTAssertEqual(result.stderr, "kvmhost: /dev/kvm does not answer KVM_GET_API_VERSION (Inappropriate ioctl for device (errno 25)): "
                       + "it is not the KVM device. Point the host at /dev/kvm. Without KVM, --accel tcg runs the guest on QEMU TCG.\n")
    }

    /// #11: a kernel or a snapshot that is a FIFO with no writer, a device
    /// or a directory is refused (65) at once, never opened to block.
    func testInputsThatAreNotRegularFilesAreRefusedWithoutBlocking() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (arguments, message) in [
            (["--kernel", fifo], "kvmhost: cannot read the kernel image \(fifo): it is a FIFO, not a regular file\n"),
            (["--kernel", "/dev/zero"], "kvmhost: cannot read the kernel image /dev/zero: it is a character device, not a regular file\n"),
            (["--from-snapshot", fifo], "kvmhost: snapshot file: cannot read \(fifo): it is a FIFO, not a regular file\n"),
            (["--from-snapshot", "/dev/zero"], "kvmhost: snapshot file: cannot read /dev/zero: it is a character device, not a regular file\n"),
        ] {
            let result = try KVMHostBinary().run(arguments, timeout: 10)
            XCTAssertEqual(result.status, 65, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr, message, "\(arguments)")
        }
        let inDirectory = try KVMHostBinary().run(["--from-snapshot", directory], timeout: 10)
        XCTAssertEqual(inDirectory.stderr, "kvmhost: snapshot file: cannot read \(directory): it is a directory, not a regular file\n")
        let missing = try KVMHostBinary().run(["--from-snapshot", directory + "/none"], timeout: 10)
        XCTAssertEqual(missing.status, 65)
        XCTAssertEqual(missing.stderr, "kvmhost: snapshot file: cannot read \(directory)/none: no such file\n")
    }

    /// #18: a guest from a snapshot takes its memory and its map from the file.
    func testMemoryAndReserveCannotGoWithASnapshot() throws {
        let memory = try KVMHostBinary().run(["--from-snapshot", "any", "--memory", "64"])
        XCTAssertEqual(memory.status, 64)
        XCTAssertTrue(memory.stderr.hasPrefix("Error: --from-snapshot cannot take --memory: guest memory is the snapshot's size\n"), memory.stderr)
        let reserve = try KVMHostBinary().run(["--from-snapshot", "any", "--reserve", "0x800000-0xa00000"])
        XCTAssertEqual(reserve.status, 64)
        XCTAssertTrue(reserve.stderr.hasPrefix("Error: --from-snapshot cannot take --reserve: the memory map is the snapshot's\n"), reserve.stderr)
    }

    /// #19: the port is the user's argument: taken, it is 64, named.
    func testAGDBPortInUseIsABadArgument() throws {
        try requireKVM()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        XCTAssertTrue(bound && listen(listener, 1) == 0)
        let port = UInt16(bigEndian: address.sin_port)
        let result = try KVMHostBinary().run(["--gdb", "\(port)", "--no-monitor"])
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertEqual(result.stderr, "kvmhost: --gdb: gdb stub: port \(port) on 127.0.0.1 cannot be listened on: "
                       + "Address already in use (errno 98)\n")
    }

    /// #17: a kernel whose profile sections lie boots when no coverage is
    /// asked for, and is a bad image (65) when it is.
    func testAKernelWhoseCoverageSectionsLieBootsWithoutCoverage() throws {
        try requireKVM()
        let kernel = try GuestImage.coverageKernel()
        let path = directory + "/lying.elf"
        try Data(try patchingSection(kernel, named: "__llvm_prf_cnts", field: 32, to: 1 << 40)).write(to: URL(fileURLWithPath: path))
        // No coverage asked for by any means: not through scripts/coverage's KVMHOST_COVERAGE_DIR either.
        let noDirectory = [KVMHostEnvironment.coverageDirectory: ""]
        let plain = try KVMHostBinary().run(["--kernel", path, "--no-monitor"], environment: noDirectory)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let profile = directory + "/session.profraw"
        let covered = try KVMHostBinary().run(["--kernel", path, "--coverage", profile, "--no-monitor"], environment: noDirectory)
        XCTAssertEqual(covered.status, 65, covered.stderr)
        XCTAssertEqual(covered.stderr, "kvmhost: --coverage: the kernel's __llvm_prf_cnts section is 1099511627776 bytes, "
                       + "more than the 67108864 taken\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: profile))
    }

    /// #9: a symbolizer that hangs with a child holding its output open, or
    /// one that floods its output, is stopped at its bounds: the failure is
    /// reported with function + offset, in seconds.
    func testASymbolizerThatHangsOrFloodsIsBounded() throws {
        try requireKVM()
        let scripts = [
            "hang": "#!/bin/sh\ntrap '' TERM\n(trap '' TERM; sleep 120) &\nsleep 120\n",
            "flood": "#!/bin/sh\nexec cat /dev/zero\n",
        ]
        for (name, text) in scripts.sorted(by: { $0.key < $1.key }) {
            let script = directory + "/" + name
            try text.write(toFile: script, atomically: true, encoding: .utf8)
            XCTAssertEqual(chmod(script, 0o755), 0)
            let start = Date()
            let result = try KVMHostBinary().run([], input: "fault\n", timeout: 40, environment: ["KVMHOST_LLVM_SYMBOLIZER": script])
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertEqual(result.status, 123, "\(name): \(result.stderr)")
            XCTAssertLessThan(elapsed, 15, "\(name): the symbolizer is stopped after 5 s")
            let expected = name == "hang" ? "it ran longer than 5.0 s" : "it wrote more than 1048576 bytes"
            XCTAssertTrue(result.stderr.contains("llvm-symbolizer failed: \(script) was stopped: \(expected)"), "\(name): \(result.stderr)")
        }
    }

    /// #21: the documented minimum, 4 MiB, boots on each backend (the
    /// image fills 1 to 4 MiB: the bitmap lies below 1 MiB, zeroed) and
    /// runs a program and hands out frames.
    func testTheSmallestGuestBoots() throws {
        for accel in ["kvm", "tcg"] {
            guard let backend = Backend(rawValue: accel), backend.unavailableReason == nil else { continue }
            let result = try KVMHostBinary().run(["--accel", accel, "--memory", "4"], input: "mem\nrun lazy-touch\nalloc 16\nquit\n")
            XCTAssertEqual(result.status, 0, "\(accel): \(result.stderr)")
            // kvm: 1024 frames to 4 MiB; tcg: SeaBIOS keeps the top 128 KiB out of the map.
            XCTAssertTrue(result.stdout.contains(accel == "kvm" ? "frames: total 1024, free " : "frames: total 992, free "), "\(accel): \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("lazy-touch exited with status 0, 10 demand faults"), "\(accel): \(result.stdout)")
            XCTAssertFalse(result.stdout.contains("error"), "\(accel): \(result.stdout)")
        }
    }


    /// KVMHOST_GUEST_KERNEL names the kernel every guest of the process
    /// boots (scripts/mutate-flushes runs the suite so): `kernel-path` and a
    /// boot take it; it does not go with the coverage variant; a file that
    /// is no kernel is refused as an image (65), a huge one before it is read.
    func testAKernelNamedByTheEnvironmentIsTheOneBooted() throws {
        let copy = directory + "/other.elf"
        try FileManager.default.copyItem(atPath: GuestImage.plainKernelURL.path, toPath: copy)
        let path = try KVMHostBinary().run(["kernel-path"], environment: ["KVMHOST_GUEST_KERNEL": copy])
        XCTAssertEqual(path.status, 0, path.stderr)
        XCTAssertEqual(path.stdout, copy + "\n")
        let booted = try KVMHostBinary().run(["--no-monitor"], environment: ["KVMHOST_GUEST_KERNEL": copy])
        XCTAssertEqual(booted.status, 0, booted.stderr)
        let both = try KVMHostBinary().run(["kernel-path"], environment: ["KVMHOST_GUEST_KERNEL": copy, "KVMHOST_GUEST_VARIANT": "coverage"])
        XCTAssertEqual(both.status, 64)
        XCTAssertEqual(both.stderr, "kvmhost: KVMHOST_GUEST_KERNEL=\(copy): it takes no kernel with KVMHOST_GUEST_VARIANT=coverage, "
                       + "whose instrumented kernel it would replace\n")
        let garbage = directory + "/garbage.elf"
        XCTAssertTrue(FileManager.default.createFile(atPath: garbage, contents: Data("not an ELF".utf8)))
        let refused = try KVMHostBinary().run(["--no-monitor"], environment: ["KVMHOST_GUEST_KERNEL": garbage])
        XCTAssertEqual(refused.status, 65, refused.stderr)
        let huge = directory + "/huge.elf"
        XCTAssertTrue(FileManager.default.createFile(atPath: huge, contents: nil))
        XCTAssertEqual(truncate(huge, off_t(GuestImage.maximumKernelBytes) + 1), 0)
        let tooLarge = try KVMHostBinary().run(["--no-monitor"], environment: ["KVMHOST_GUEST_KERNEL": huge])
        XCTAssertEqual(tooLarge.status, 65, tooLarge.stderr)
        XCTAssertEqual(tooLarge.stderr, "kvmhost: cannot read the kernel image \(huge): 268435457 bytes is larger than guest memory "
                       + "(67108864 bytes)\n", "read as --kernel is, no larger than guest memory")
        // The coverage kernel is not the one the variable names.
        let coverage = try KVMHostBinary().run(["--coverage", directory + "/x.profraw", "--no-monitor"],
                                               environment: ["KVMHOST_GUEST_KERNEL": copy])
        XCTAssertEqual(coverage.status, 64, coverage.stderr)
        XCTAssertEqual(coverage.stderr, "kvmhost: KVMHOST_GUEST_KERNEL=\(copy): it takes no kernel with KVMHOST_GUEST_VARIANT=coverage, "
                       + "whose instrumented kernel it would replace\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/x.profraw"))
    }
}
