/// One walk of a virtual address through the guest's page tables, read from
/// guest memory by the host: an oracle independent of the guest's Pagemap
/// (it shares no code with it), used by tests and by page-fault reports.
public struct PageWalk: Equatable, Sendable, CustomStringConvertible {
    public struct Step: Equatable, Sendable {
        /// 4 = PML4 ... 1 = PT.
        public let level: Int
        public let tableAddress: UInt64
        public let index: Int
        public let entry: UInt64

        public init(level: Int, tableAddress: UInt64, index: Int, entry: UInt64) {
            self.level = level
            self.tableAddress = tableAddress
            self.index = index
            self.entry = entry
        }
    }

    public enum Outcome: Equatable, Sendable {
        case mapped(physical: UInt64, pageSize: UInt64, access: Access)
        /// The entry at `level` is not present.
        case notPresent(level: Int)
        /// The address is not canonical: no walk happens.
        case nonCanonical
    }

    /// What all levels of the walk allow together.
    public struct Access: Equatable, Sendable, CustomStringConvertible {
        public let writable: Bool
        public let user: Bool
        public let executable: Bool

        public init(writable: Bool, user: Bool, executable: Bool) {
            self.writable = writable
            self.user = user
            self.executable = executable
        }

        public var description: String {
            "r\(writable ? "w" : "-")\(executable ? "x" : "-") \(user ? "user" : "supervisor")"
        }
    }

    public let virtual: UInt64
    public let steps: [Step]
    public let outcome: Outcome

    public var description: String {
        var lines = ["walk of \(hex(virtual)):"]
        let names = [4: "PML4", 3: "PDPT", 2: "PD", 1: "PT"]
        for step in steps {
            lines.append("  \(names[step.level]!)[\(step.index)] at \(hex(step.tableAddress + UInt64(step.index * 8))) = \(hex(step.entry))")
        }
        switch outcome {
        case .mapped(let physical, let size, let access):
            lines.append("  -> \(hex(physical)) (\(size >> 10) KiB page, \(access))")
        case .notPresent(let level):
            lines.append("  -> not present at \(names[level]!)")
        case .nonCanonical:
            lines.append("  -> not canonical")
        }
        return lines.joined(separator: "\n")
    }
}

public struct PageWalker {
    let memory: GuestMemory

    public init(memory: GuestMemory) {
        self.memory = memory
    }

    // The walker spells the entry bits itself, on purpose: it is the host's
    // independent oracle of what the kernel wrote, not a second reader of
    // machine.h or of the memory manager's PageTableFlags.
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let user: UInt64 = 1 << 2
    static let pageSizeBit: UInt64 = 1 << 7
    static let noExecute: UInt64 = 1 << 63
    static let addressBits: UInt64 = 0x000F_FFFF_FFFF_F000
    /// A page table's bytes: 512 entries of 8.
    static let tableBytes = 4096

    /// Walks `virtual` from the PML4 at `cr3`. Throws when a table lies
    /// outside guest memory.
    public func walk(cr3: UInt64, virtual: UInt64) throws -> PageWalk {
        let sign = virtual >> 47
        guard sign == 0 || sign == 0x1FFFF else { return PageWalk(virtual: virtual, steps: [], outcome: .nonCanonical) }
        var table = cr3 & Self.addressBits
        var steps: [PageWalk.Step] = []
        var writable = true, user = true, executable = true
        // Level 1 always ends the walk, so the loop ends only by returning.
        var level = 4
        while true {
            let shift = UInt64(12 + 9 * (level - 1))
            let index = Int((virtual >> shift) & 0x1FF)
            let entry = try memory.load(UInt64.self, at: table + UInt64(index * 8))
            steps.append(.init(level: level, tableAddress: table, index: index, entry: entry))
            guard entry & Self.present != 0 else {
                return PageWalk(virtual: virtual, steps: steps, outcome: .notPresent(level: level))
            }
            writable = writable && entry & Self.writable != 0
            user = user && entry & Self.user != 0
            executable = executable && entry & Self.noExecute == 0
            if level == 1 || (level <= 3 && entry & Self.pageSizeBit != 0) {
                let size: UInt64 = 1 << shift
                let physical = (entry & Self.addressBits & ~(size - 1)) | (virtual & (size - 1))
                return PageWalk(virtual: virtual, steps: steps,
                                outcome: .mapped(physical: physical, pageSize: size,
                                                 access: .init(writable: writable, user: user, executable: executable)))
            }
            table = entry & Self.addressBits
            level -= 1
        }
    }
}
