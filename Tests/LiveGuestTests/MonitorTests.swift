import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// The kernel monitor on the serial console, fed a script of lines.
final class MonitorTests: GuestBehaviourTestCase {
    /// Takes a fresh, ready guest (`ReadyGuests`), takes `allocating` frames
    /// through the channel first (the same ones a probe guest took), and
    /// runs the monitor on `lines`.
    private func runMonitor(_ lines: [String], allocating: UInt64 = 0) throws -> (LiveGuest, String) {
        let (guest, _) = try readyGuest()
        if allocating > 0 { _ = try guest.call(AllocateFrames(count: allocating)) }
        guest.consoleInput = ScriptedConsoleInput(lines: lines)
        let before = guest.serial.text.count
        XCTAssertEqual(try guest.call(RunMonitor(), timeout: .seconds(60)), Done())
        return (guest, String(guest.serial.text.dropFirst(before)))
    }

    /// README.md's table of commands is what `help` prints, row for row: both
    /// come from the kernel's one table (`MonitorCommand.all`).
    func testTheREADMETableIsWhatHelpLists() throws {
        try onEachBackend { _ in
            let (_, screen) = try runMonitor(["help", "quit"])
            let lines = screen.split(separator: "\n").map(String.init)
            let start = try XCTUnwrap(lines.firstIndex(of: "monitor> help")) + 1
            let end = try XCTUnwrap(lines[start...].firstIndex { $0.hasPrefix("Addresses are") })
            // help pads the usage to 30 columns; a usage of 30 or more is followed by its summary directly.
            let listed = lines[start..<end].map { line -> String in
                let usage = line.prefix(30).trimmingCharacters(in: .whitespaces)
                return "| `\(usage.replacingOccurrences(of: "|", with: "\\|"))` | \(line.dropFirst(30)) |"
            }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
            let header = try XCTUnwrap(readme.firstIndex(of: "| command | what it does |"), "README.md has the monitor's table")
            let table = Array(readme[(header + 2)...].prefix { $0.hasPrefix("| `") })
            XCTAssertGreaterThanOrEqual(listed.count, 18)
            XCTAssertEqual(table, listed, "README.md's monitor table should read:\n" + listed.joined(separator: "\n"))
        }
    }

    /// The whole transcript, in order. Physical addresses depend on the
    /// kernel's size, so each distinct one is named P1, P2, ... in order of
    /// first appearance: the same frame must appear wherever it is expected.
    func testCommandsAnswerAndBadInputGetsOneLineErrors() throws {
        try onEachBackend { _ in
            let (guest, screen) = try runMonitor([
                "bogus", "free zz", "map 0x40000000 wq",
                "map 0x40000000 w", "translate 0x40000000", "walk 0x40000000", "map 0x40000000",
                "unmap 0x40000000", "translate 0x40000000", "reserve 3 eager", "spaces", "alloc 2",
                // A frame the monitor did not take stays allocated when its page is unmapped.
                "alloc", "map 0x50000000", "quit",
            ])
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let start = try XCTUnwrap(lines.firstIndex(of: "monitor> bogus"))
            XCTAssertEqual(named(lines[start...].joined(separator: "\n")), """
                monitor> bogus
                error: unknown command 'bogus' (try help)
                monitor> free zz
                error: 'zz' is not an address (hexadecimal, 0x optional)
                monitor> map 0x40000000 wq
                error: 'wq' is neither a physical address nor flags (letters w, u and x)
                monitor> map 0x40000000 w
                mapped 0x0000000040000000 -> P1
                monitor> translate 0x40000000
                0x0000000040000000 -> P1 rw- supervisor 4K
                monitor> walk 0x40000000
                PML4[0] = P2 -> P3 rwx supervisor
                PDPT[1] = P4 -> P5 rwx supervisor
                PD[0] = P6 -> P7 rwx supervisor
                PT[0] = P8 -> P1 rw- supervisor
                monitor> map 0x40000000
                error: already mapped: 0x0000000040000000 -> P1
                monitor> unmap 0x40000000
                unmapped 0x0000000040000000, frame P1 freed
                monitor> translate 0x40000000
                0x0000000040000000 is not mapped
                monitor> reserve 3 eager
                reserved 0x0000010000000000
                monitor> spaces
                test space 0x0000010000000000-0x0000018000000000, mark 0x0000010000003000, 1 reservations
                  0x0000010000000000 3 pages eager
                monitor> alloc 2
                frame P9
                frame P10
                monitor> alloc
                frame P11
                monitor> map 0x50000000
                mapped 0x0000000050000000 -> P12
                monitor> quit

                """)
            // The monitor handed control back: the channel still works.
            XCTAssertEqual(try guest.call(Echo([4])).values, [4])
        }
    }

    /// `map VA PA` then `unmap VA` keeps the frame (the monitor did not take
    /// it), so it can be freed once; the kernel's own pages and frames that
    /// are not RAM are refused with a message, and the kernel goes on.
    func testTheMonitorCannotBreakTheKernel() throws {
        try onEachBackend { backend in
            let probe = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            let ready = try probe.boot()
            let frame = try XCTUnwrap(probe.call(AllocateFrames(count: 1)).first)
            let text = ready.kernelVirtualBase + ready.kernelPhysicalStart
            let free = try XCTUnwrap(probe.call(AllocateFrames(count: 1)).first)
            _ = try probe.call(FreeFrame(address: free))
            let (guest, screen) = try runMonitor([
                "map 0x6000 \(hex16(ready.pageTableRoot)) w", "map 0x7000 \(hex16(ready.kernelPhysicalStart + 0x9000)) w",
                "map 0x8000 \(hex16(free)) w", "map 0x50000000 \(hex16(frame)) w", "free \(hex16(frame))",
                "unmap 0x50000000", "unmap 0x50000000",
                "unmap \(hex16(text))", "map 0x60000000 0xffffffffffffffff", "map 0x60000000 0x1001",
                "free \(hex16(ready.kernelPhysicalStart))", "free \(hex16(ready.pageTableRoot))", "quit",
            ], allocating: 1)
            let start = try XCTUnwrap(screen.range(of: "monitor> map 0x6000"))
            XCTAssertEqual(String(screen[start.lowerBound...]), """
                monitor> map 0x6000 \(hex16(ready.pageTableRoot)) w
                error: the frame is the kernel's, which a writable or user mapping would expose: \(hex16(ready.pageTableRoot))
                monitor> map 0x7000 \(hex16(ready.kernelPhysicalStart + 0x9000)) w
                error: the frame is the kernel's, which a writable or user mapping would expose: \(hex16(ready.kernelPhysicalStart + 0x9000))
                monitor> map 0x8000 \(hex16(free)) w
                error: the frame is free: the allocator could hand it out while mapped; alloc it first: \(hex16(free))
                monitor> map 0x50000000 \(hex16(frame)) w
                mapped 0x0000000050000000 -> \(hex16(frame))
                monitor> free \(hex16(frame))
                error: the frame is still mapped: \(hex16(frame)) at 0x0000000050000000
                monitor> unmap 0x50000000
                unmapped 0x0000000050000000, frame kept \(hex16(frame))
                monitor> unmap 0x50000000
                error: not mapped: 0x0000000050000000
                monitor> unmap \(hex16(text))
                error: the kernel's own region, which would break the kernel: \(hex16(text))
                monitor> map 0x60000000 0xffffffffffffffff
                error: not the start of a frame: 0xffffffffffffffff
                monitor> map 0x60000000 0x1001
                error: not the start of a frame: 0x0000000000001001
                monitor> free \(hex16(ready.kernelPhysicalStart))
                error: the frame is reserved (kernel, boot data or not RAM): \(hex16(ready.kernelPhysicalStart))
                monitor> free \(hex16(ready.pageTableRoot))
                error: the frame holds a live page table: \(hex16(ready.pageTableRoot))
                monitor> quit

                """)
            XCTAssertEqual(try guest.call(QueryFrame(address: frame)).isFree, false, "the frame stayed allocated")
            XCTAssertEqual(try guest.call(FreeFrame(address: frame)), Done())
        }
    }

    /// A session of every command but `fault` (which ends the guest) reads
    /// the same on each backend, once what comes from the machine's memory
    /// map is checked against it and set aside: `mem`'s counts and boot
    /// reservations, which are the kernel's own statistics.
    func testEveryCommandReadsTheSameOnEachBackend() throws {
        var transcripts: [(Backend, String)] = []
        try onEachBackend { backend in
            let (guest, screen) = try runMonitor([
                "help", "mem", "cpu", "alloc 3", "free 0x200000", "map 0x40000000 w", "map 0x40001000 0x300000 wux", "translate 0x40000000",
                "walk 0x40001000", "unmap 0x40001000", "unmap 0x40000000", "spaces", "reserve 2 lazy", "reserve 1", "release 0x10000000000",
                "spaces", "programs", "run hello", "run lazy-touch", "faults", "quit",
            ])
            let stats = try guest.call(ReadFrameStatistics())
            var lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let start = try XCTUnwrap(lines.firstIndex(of: "monitor> help"))
            lines = Array(lines[start...])
            // mem, against the statistics the kernel keeps (3 frames later).
            let mem = try XCTUnwrap(lines.firstIndex(of: "monitor> mem"))
            XCTAssertEqual(lines[mem + 1], "frames: total \(stats.total), free \(stats.free + 3), used \(stats.used - 3), reserved \(stats.reserved)")
            XCTAssertEqual(lines[mem + 2], "usable RAM: \(stats.usable) frames in \(guest.memoryMap.usableRanges.count) ranges, "
                           + "\(guest.memoryMap.usableFrames(from: 1 << 32)) of them above 4 GiB")
            XCTAssertEqual(lines[mem + 3], "reserved at boot:")
            let reservations = stats.reservations.map { "  \(hex16($0.start))-\(hex16($0.end)) \($0.kind.name)" }
            XCTAssertEqual(Array(lines[(mem + 4)...].prefix(reservations.count)), reservations)
            lines.replaceSubrange((mem + 1)..<(mem + 4 + reservations.count), with: ["(the kernel's frame statistics)"])
            // cpu, against what the kernel answers ReadCPU (the backends' CPUs differ).
            let cpu = try guest.call(ReadCPU())
            let at = try XCTUnwrap(lines.firstIndex(of: "monitor> cpu"))
            XCTAssertEqual(lines[at + 1], "CPUID:" + CPUFeature.allCases.map { (cpu.features & $0.maskBit != 0 ? " +" : " -") + "\($0.name)" }.joined())
            XCTAssertEqual(lines[at + 2], "kernel: EFER.NXE " + (cpu.noExecute ? "on" : "off (nothing is mapped no-execute)")
                           + ", CR4.SMEP " + (cpu.smep ? "on" : "off") + ", CR4.SMAP " + (cpu.smap ? "on" : "off"))
            XCTAssertEqual(lines[at + 3], "direct map in " + (cpu.gigabyteDirectMap ? "1 GiB" : "2 MiB") + " pages, MAXPHYADDR \(cpu.physicalAddressBits)")
            lines.replaceSubrange((at + 1)...(at + 3), with: ["(the CPU the kernel found)"])
            transcripts.append((backend, named(lines.joined(separator: "\n"))))
        }
        guard let (first, reference) = transcripts.first, transcripts.count > 1 else {
            throw XCTSkip("compares the backends: KVMHOST_BACKEND=both runs it on kvm and tcg")
        }
        for (backend, transcript) in transcripts.dropFirst() {
            XCTAssertEqual(transcript, reference, "\(backend) against \(first)")
        }
    }

    private func named(_ text: String) -> String {
        var names: [String: String] = [:]
        var result = ""
        var rest = Substring(text)
        while let match = rest.range(of: #"0x0000000000[0-9a-f]{6}|0x8000000000[0-9a-f]{6}"#, options: .regularExpression) {
            result += rest[..<match.lowerBound]
            let address = String(rest[match])
            if names[address] == nil { names[address] = "P\(names.count + 1)" }
            result += names[address]!
            rest = rest[match.upperBound...]
        }
        return result + rest
    }

    /// Programs listed with what each does (the comment each starts with),
    /// run one after another; the page trap's last decisions, newest first.
    func testProgramsRunFromTheMonitor() throws {
        try onEachBackend { _ in
            let (_, screen) = try runMonitor(["programs", "run hello", "run wild-touch", "run port-out", "run report-address", "run first-byte",
                                              "run fault-bench", "run lazy-touch", "faults", "run nothing", "quit"])
            let programs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Guest/Programs")
            let names = try FileManager.default.contentsOfDirectory(atPath: programs.path).filter { $0.hasSuffix(".S") }.sorted()
            var listing = ""
            let width = names.map { $0.count - 2 }.max() ?? 0  // the longest name, and a space
            for file in names {
                let source = try String(contentsOf: programs.appendingPathComponent(file), encoding: .utf8)
                let description = source.split(separator: "\n").prefix { $0.hasPrefix("//") }
                    .map { $0.dropFirst(2).trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                let name = String(file.dropLast(2))
                listing += "  " + name + String(repeating: " ", count: width + 1 - name.count) + description + "\n"
            }
            let start = try XCTUnwrap(screen.range(of: "monitor> programs\n"))
            XCTAssertEqual(String(screen[start.lowerBound...]), "monitor> programs\n" + listing + """
                monitor> run hello
                hello from a user program at 0x0
                hello exited with status 7, 0 demand faults
                monitor> run wild-touch
                wild-touch faulted: not allocated at 0x0000000050000000, rip 0x000000000000000a, 0 demand faults
                monitor> run port-out
                port-out faulted: exception (vector 13, #GP general protection) at 0x0000000000000000, rip 0x0000000000000002, 0 demand faults
                monitor> run report-address
                  reports 0x0000000000001000
                report-address exited with status 0, 0 demand faults
                monitor> run first-byte
                  reports 0x00000000000000eb
                first-byte exited with status 0, 0 demand faults
                monitor> run fault-bench
                fault-bench faulted: not allocated at 0x0000000060000000, rip 0x000000000000000f, 0 demand faults
                monitor> run lazy-touch
                  reports 0x0000000000000118
                lazy-touch exited with status 0, 10 demand faults
                monitor> faults
                12 page-trap decisions since boot; the last 8, newest first:
                  0x0000000000037000 error 0x0000000000000006 -> reallocated
                  0x0000000000031000 error 0x0000000000000006 -> reallocated
                  0x000000000002b000 error 0x0000000000000006 -> reallocated
                  0x0000000000025000 error 0x0000000000000006 -> reallocated
                  0x000000000001f000 error 0x0000000000000006 -> reallocated
                  0x0000000000019000 error 0x0000000000000006 -> reallocated
                  0x0000000000013000 error 0x0000000000000006 -> reallocated
                  0x000000000000d000 error 0x0000000000000006 -> reallocated
                monitor> run nothing
                error: no program named nothing (try programs)
                monitor> quit

                """)
        }
    }

    /// Every way a line can be wrong gets its own one-line error, and
    /// nothing of a wrong line runs.
    func testStrictParsing() throws {
        try onEachBackend { _ in
            let long = String(repeating: "a", count: 130)
            let (guest, screen) = try runMonitor([
                "map 40000000 w u x extra", "reserve 2 eagre", "alloc 17", "alloc 0", "alloc two", "mem now",
                "translate", "walk 1 2", "a b c d e f g h i", long, "spaces", "quit",
            ])
            let start = try XCTUnwrap(screen.range(of: "monitor> map 40000000 w u x extra"))
            XCTAssertEqual(String(screen[start.lowerBound...]), """
                monitor> map 40000000 w u x extra
                error: map VIRTUAL [PHYSICAL] [wux]: 'x' is one word too many
                monitor> reserve 2 eagre
                error: 'eagre' is neither eager nor lazy
                monitor> alloc 17
                error: alloc takes 1 to 16 frames, not 17
                monitor> alloc 0
                error: alloc takes 1 to 16 frames, not 0
                monitor> alloc two
                error: 'two' is not a count (decimal)
                monitor> mem now
                error: mem: 'now' is one word too many
                monitor> translate
                error: translate VIRTUAL: missing argument
                monitor> walk 1 2
                error: walk VIRTUAL: '2' is one word too many
                monitor> a b c d e f g h i
                error: more than 8 words on the line; nothing was run
                monitor> \(String(repeating: "a", count: 120))
                error: the line is longer than 120 characters; nothing was run
                monitor> spaces
                test space 0x0000010000000000-0x0000018000000000, mark 0x0000010000000000, 0 reservations
                monitor> quit

                """)
            XCTAssertEqual(try guest.call(QuerySpace(address: testSpaceBase)).reservation, nil, "no reservation was made")
            XCTAssertEqual(try guest.call(Translate(virtual: 0x4000_0000)), .notPresent(level: 4, lazy: false), "nothing was mapped")
        }
    }

    /// Addresses are hex with or without 0x, the same rule as kvmhost's
    /// options; counts are decimal.
    func testOneRuleForNumbers() throws {
        try onEachBackend { _ in
            let (_, screen) = try runMonitor(["reserve 16", "release 10000000000", "reserve 0x10", "quit"])
            XCTAssertTrue(screen.contains("""
                monitor> reserve 16
                reserved 0x0000010000000000
                monitor> release 10000000000
                released, 0 frames freed
                monitor> reserve 0x10
                error: '0x10' is not a count (decimal)

                """), screen)
        }
    }

    /// Backspace, Ctrl-U, Ctrl-W, the arrows and history edit the line before it runs.
    func testLineEditing() throws {
        try onEachBackend { _ in
            let left = "\u{1B}[D", right = "\u{1B}[C", up = "\u{1B}[A", down = "\u{1B}[B"
            let (guest, _) = try runMonitor([
                "reserve 3x\u{7F}",                           // backspace: reserve 3
                "junk\u{15}reserve 2",                        // Ctrl-U drops the line: reserve 2
                "reserve 9 old\u{17}eager",                    // Ctrl-W drops a word: reserve 9 eager
                "reserve 5" + left + "1" + right + right,     // insert before the 5: reserve 15
                up + up + up + down,                         // back three lines, forward one: reserve 9 eager
                "quit",
            ])
            var address = testSpaceBase
            for pages: UInt64 in [3, 2, 9, 15, 9] {
                let query = try guest.call(QuerySpace(address: address))
                XCTAssertEqual(query.reservation, .init(start: address, pageCount: pages, backing: pages == 9 ? .eager : .lazy))
                address += pages * 4096
            }
            XCTAssertEqual(try guest.call(QuerySpace(address: address)).reservation, nil, "and no sixth reservation")
        }
    }

    func testEndOfInputLeavesTheMonitor() throws {
        try onEachBackend { _ in
            let (guest, screen) = try runMonitor(["mem"])
            XCTAssertTrue(screen.hasSuffix("monitor> \n"), screen)
            XCTAssertEqual(try guest.shutdown(), 0)
        }
    }

    func testDeliberateKernelFaultIsAPanicReportWithCR2() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            _ = try guest.boot()
            guest.consoleInput = ScriptedConsoleInput(lines: ["fault"])
            do {
                _ = try guest.call(RunMonitor(), timeout: .seconds(30))
                XCTFail("the fault should end the run")
            } catch let failure as GuestFailure {
                guard case .exception(let report) = failure.kind else { return XCTFail("\(failure)") }
                XCTAssertEqual(report.vector, 14)
                XCTAssertEqual(report.cr2, 0)
                XCTAssertEqual(failure.walk?.outcome, .notPresent(level: 4))
            }
        }
    }

    /// `check` has the host run its page-table check and show the result on
    /// the console: all well, then a page mapped (three new tables, one
    /// more mapping), then damage the host made shown as the violation.
    func testCheckShowsTheHostsPageTableCheckOnTheConsole() throws {
        try onEachBackend { _ in
            var configuration = LiveGuest.Configuration()
            configuration.checkPageTablesAfterCalls = false  // the damage below must reach the monitor
            let (guest, ready) = try readyGuest(configuration: configuration)
            guest.consoleInput = ScriptedConsoleInput(lines: ["check", "map 0x40000000 w", "check", "quit"])
            let before = guest.serial.text.count
            XCTAssertEqual(try guest.call(RunMonitor(), timeout: .seconds(60)), Done())
            let screen = String(guest.serial.text.dropFirst(before))
            let after = try guest.checkPageTables()
            XCTAssertEqual(after.violations, [])
            guard case .mapped(let frame, _, _) = try guest.walk(0x4000_0000, cr3: ready.pageTableRoot).outcome else {
                return XCTFail("the monitor's map left nothing at 0x40000000")
            }
            let start = try XCTUnwrap(screen.range(of: "monitor> check\n"))
            XCTAssertEqual(String(screen[start.lowerBound...]), """
                monitor> check
                page tables: all invariants hold (1 address space, \(after.tables - 3) page tables, \(after.mappings - 1) mappings outside the direct map)
                monitor> map 0x40000000 w
                mapped 0x0000000040000000 -> \(hex16(frame))
                monitor> check
                page tables: all invariants hold (1 address space, \(after.tables) page tables, \(after.mappings) mappings outside the direct map)
                monitor> quit

                """)

            let space = try HandMadeSpace(guest: guest)
            try space.setLeaf(page: 4, space.pt | PageTableFixtures.present)
            guest.consoleInput = ScriptedConsoleInput(lines: ["check", "quit"])
            let second = guest.serial.text.count
            XCTAssertEqual(try guest.call(RunMonitor(), timeout: .seconds(60)), Done())
            let damaged = try guest.checkPageTables()
            XCTAssertEqual(damaged.violations, [.init(rule: .pageTableMappedAsPage, frame: space.pt, mappings: [try space.mapping(page: 4)])])
            XCTAssertEqual(String(guest.serial.text.dropFirst(second)).components(separatedBy: "monitor> check\n").last,
                           damaged.description + "\nmonitor> quit\n")
        }
    }
}

/// An address as the monitor prints it: 0x and 16 hex digits.
private func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}
