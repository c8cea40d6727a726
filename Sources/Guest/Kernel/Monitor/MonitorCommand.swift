// The monitor's commands: one table, a row a command, from which the
// dispatcher and `help` both read (and README.md's table is checked against
// `help` by MonitorTests), so that a command cannot be in one and missing
// from another.

struct MonitorCommand {
    /// The command's name, then its arguments: `map VIRTUAL [PHYSICAL] [wux]`.
    let usage: StaticString
    /// How many words may follow the name.
    let arguments: ClosedRange<Int>
    let summary: StaticString
    /// Runs the command; its arguments were counted against `arguments`.
    let run: (MonitorWords) -> Void
    /// `quit`: the monitor returns after it.
    var leavesMonitor = false

    static let all: [MonitorCommand] = [
        MonitorCommand(usage: "help", arguments: 0...0, summary: "this list") { _ in Monitor.help() },
        MonitorCommand(usage: "mem", arguments: 0...0, summary: "frame counts, boot reservations") { _ in MonitorCommands.memory() },
        MonitorCommand(usage: "cpu", arguments: 0...0, summary: "CPUID's paging features, and the modes the kernel took") { _ in
            MonitorCommands.cpu()
        },
        MonitorCommand(usage: "cpus", arguments: 0...0, summary: "the CPUs online, and what each runs") { _ in MonitorCommands.cpus() },
        MonitorCommand(usage: "alloc [COUNT]", arguments: 0...1, summary: "allocate 1 to 16 frames (1 if no count)") {
            MonitorCommands.allocate($0)
        },
        MonitorCommand(usage: "free ADDRESS", arguments: 1...1, summary: "free the frame at a physical address") { MonitorCommands.free($0) },
        MonitorCommand(usage: "map VIRTUAL [PHYSICAL] [wux]", arguments: 1...3, summary: "map a page (w writable, u user, x executable)") {
            MonitorCommands.map($0)
        },
        MonitorCommand(usage: "unmap VIRTUAL", arguments: 1...1, summary: "unmap a page; frees its frame if map took it") {
            MonitorCommands.unmap($0)
        },
        MonitorCommand(usage: "translate VIRTUAL", arguments: 1...1, summary: "physical address and flags") { MonitorCommands.translate($0) },
        MonitorCommand(usage: "walk VIRTUAL", arguments: 1...1, summary: "every level of the page walk, with flags") { MonitorCommands.walk($0) },
        MonitorCommand(usage: "spaces", arguments: 0...0, summary: "the test memory space and its reservations") { _ in MonitorCommands.spaces() },
        MonitorCommand(usage: "reserve PAGES [eager|lazy]", arguments: 1...2, summary: "reserve pages in the test memory space") {
            MonitorCommands.reserve($0)
        },
        MonitorCommand(usage: "release ADDRESS", arguments: 1...1, summary: "free a reservation") { MonitorCommands.release($0) },
        MonitorCommand(usage: "programs", arguments: 0...0, summary: "the built-in user programs, and what each does") { _ in
            MonitorCommands.programs()
        },
        MonitorCommand(usage: "run PROGRAM [THREADS]", arguments: 1...2, summary: "run one in a process of its own, at 0x0; a thread a CPU") {
            MonitorCommands.run($0)
        },
        MonitorCommand(usage: "faults", arguments: 0...0, summary: "the last page-trap decisions") { _ in MonitorCommands.faults() },
        MonitorCommand(usage: "fault", arguments: 0...0, summary: "a deliberate kernel page fault (panic report)") { _ in
            _ = cpu_read_byte(0)
        },
        MonitorCommand(usage: "check", arguments: 0...0, summary: "the host's page-table check, its result here") { _ in
            MonitorCommands.check()
        },
        MonitorCommand(usage: "quit", arguments: 0...0, summary: "leave the monitor (or Ctrl-D)", run: { _ in }, leavesMonitor: true),
    ]

    /// The name: the usage's first word.
    var nameLength: Int {
        var length = 0
        while length < usage.utf8CodeUnitCount && usage.utf8Start[length] != UInt8(ascii: " ") { length += 1 }
        return length
    }

    /// The command a word names, if any.
    static func named(_ word: UnsafeBufferPointer<UInt8>) -> MonitorCommand? {
        for command in all where command.nameLength == word.count {
            if (0..<word.count).allSatisfy({ word[$0] == command.usage.utf8Start[$0] }) { return command }
        }
        return nil
    }
}
