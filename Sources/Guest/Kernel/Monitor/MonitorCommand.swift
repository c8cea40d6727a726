// The monitor's commands: one list, from which `help` and the dispatcher
// both read, so that a command cannot be in one and missing from the other.

enum MonitorCommand: CaseIterable {
    case help, mem, cpu, alloc, free, map, unmap, translate, walk, spaces, reserve, release, programs, run, faults, fault, check, quit

    var name: StaticString {
        switch self {
        case .help: "help"
        case .mem: "mem"
        case .cpu: "cpu"
        case .alloc: "alloc"
        case .free: "free"
        case .map: "map"
        case .unmap: "unmap"
        case .translate: "translate"
        case .walk: "walk"
        case .spaces: "spaces"
        case .reserve: "reserve"
        case .release: "release"
        case .programs: "programs"
        case .run: "run"
        case .faults: "faults"
        case .fault: "fault"
        case .check: "check"
        case .quit: "quit"
        }
    }

    var usage: StaticString {
        switch self {
        case .help: "help"
        case .mem: "mem"
        case .cpu: "cpu"
        case .alloc: "alloc [COUNT]"
        case .free: "free ADDRESS"
        case .map: "map VIRTUAL [PHYSICAL] [wux]"
        case .unmap: "unmap VIRTUAL"
        case .translate: "translate VIRTUAL"
        case .walk: "walk VIRTUAL"
        case .spaces: "spaces"
        case .reserve: "reserve PAGES [eager|lazy]"
        case .release: "release ADDRESS"
        case .programs: "programs"
        case .run: "run PROGRAM"
        case .faults: "faults"
        case .fault: "fault"
        case .check: "check"
        case .quit: "quit"
        }
    }

    var summary: StaticString {
        switch self {
        case .help: "this list"
        case .mem: "frame counts, boot reservations"
        case .cpu: "CPUID's paging features, and the modes the kernel took"
        case .alloc: "allocate 1 to 16 frames (1 if no count)"
        case .free: "free the frame at a physical address"
        case .map: "map a page (w writable, u user, x executable)"
        case .unmap: "unmap a page; frees its frame if map took it"
        case .translate: "physical address and flags"
        case .walk: "every level of the page walk, with flags"
        case .spaces: "the test memory space and its reservations"
        case .reserve: "reserve pages in the test memory space"
        case .release: "free a reservation"
        case .programs: "the built-in user programs, and what each does"
        case .run: "run one in a process of its own, at 0x0"
        case .faults: "the last page-trap decisions"
        case .fault: "a deliberate kernel page fault (panic report)"
        case .check: "the host's page-table check, its result here"
        case .quit: "leave the monitor (or Ctrl-D)"
        }
    }

    /// How many words may follow the command's name.
    var arguments: ClosedRange<Int> {
        switch self {
        case .help, .mem, .cpu, .spaces, .programs, .faults, .fault, .check, .quit: 0...0
        case .alloc: 0...1
        case .free, .unmap, .translate, .walk, .release, .run: 1...1
        case .map: 1...3
        case .reserve: 1...2
        }
    }

    /// The command a word names, if any.
    static func named(_ word: UnsafeBufferPointer<UInt8>) -> MonitorCommand? {
        for command in allCases {
            let name = command.name
            if name.utf8CodeUnitCount == word.count && (0..<word.count).allSatisfy({ word[$0] == name.utf8Start[$0] }) {
                return command
            }
        }
        return nil
    }
}
