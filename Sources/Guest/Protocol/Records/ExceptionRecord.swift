// The exception record: a CPU exception the kernel cannot handle, with the
// faulting context from the trap frame (not the handler's registers) and,
// for a page fault, the kernel's own walk of CR2.

public struct ExceptionRecord: Wire {
    public var vector: UInt64
    public var errorCode: UInt64
    public var rip: UInt64
    public var cs: UInt64
    public var rflags: UInt64
    public var rsp: UInt64
    public var ss: UInt64
    public var cr0: UInt64
    public var cr2: UInt64
    public var cr3: UInt64
    public var cr4: UInt64
    public var efer: UInt64
    public var registers: GeneralRegisters
    /// For a page fault: the entries the kernel's walk of CR2 read, PML4 first.
    public var guestWalk: PageWalkEntries
    /// The CPU that took it (0: the boot CPU).
    // wire: cpu in 0...UInt64(GuestCPUs.maximumCount - 1)
    public var cpu: UInt64

    public init(vector: UInt64, errorCode: UInt64, rip: UInt64, cs: UInt64, rflags: UInt64, rsp: UInt64, ss: UInt64,
                cr0: UInt64, cr2: UInt64, cr3: UInt64, cr4: UInt64, efer: UInt64,
                registers: GeneralRegisters, guestWalk: PageWalkEntries, cpu: UInt64 = 0) {
        self.vector = vector
        self.errorCode = errorCode
        self.rip = rip
        self.cs = cs
        self.rflags = rflags
        self.rsp = rsp
        self.ss = ss
        self.cr0 = cr0
        self.cr2 = cr2
        self.cr3 = cr3
        self.cr4 = cr4
        self.efer = efer
        self.registers = registers
        self.guestWalk = guestWalk
        self.cpu = cpu
    }
}

/// The 15 general registers of a context, by name.
public struct GeneralRegisters: Wire {
    public var rax: UInt64, rbx: UInt64, rcx: UInt64, rdx: UInt64, rsi: UInt64, rdi: UInt64, rbp: UInt64
    public var r8: UInt64, r9: UInt64, r10: UInt64, r11: UInt64, r12: UInt64, r13: UInt64, r14: UInt64, r15: UInt64

    public init(rax: UInt64, rbx: UInt64, rcx: UInt64, rdx: UInt64, rsi: UInt64, rdi: UInt64, rbp: UInt64,
                r8: UInt64, r9: UInt64, r10: UInt64, r11: UInt64, r12: UInt64, r13: UInt64, r14: UInt64, r15: UInt64) {
        self.rax = rax; self.rbx = rbx; self.rcx = rcx; self.rdx = rdx; self.rsi = rsi; self.rdi = rdi; self.rbp = rbp
        self.r8 = r8; self.r9 = r9; self.r10 = r10; self.r11 = r11; self.r12 = r12; self.r13 = r13; self.r14 = r14
        self.r15 = r15
    }
}

/// At most four page-table entries, PML4 first, held in place: the
/// exception path builds them with no heap.
public struct PageWalkEntries: WirePrimitive {
    public private(set) var count = 0
    private var pml4: UInt64 = 0, pdpt: UInt64 = 0, pd: UInt64 = 0, pt: UInt64 = 0

    public static let capacity = 4

    public init() {}

    /// Adds the next level's entry; one past the fourth is not taken.
    public mutating func append(_ entry: UInt64) {
        switch count {
        case 0: pml4 = entry
        case 1: pdpt = entry
        case 2: pd = entry
        case 3: pt = entry
        default: return
        }
        count += 1
    }

    public subscript(index: Int) -> UInt64 {
        switch index {
        case 0: pml4
        case 1: pdpt
        case 2: pd
        default: pt
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let count = try decoder.word(in: 0...UInt64(Self.capacity))
        for _ in 0..<count { append(try decoder.word()) }
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(count))
        for index in 0..<count { encoder.word(self[index]) }
    }
}

#if !GUEST_KERNEL
extension ExceptionRecord: Equatable, Sendable {}
extension GeneralRegisters: Equatable, Sendable {
    /// RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8 ... R15, with their names.
    public var named: [(name: String, value: UInt64)] {
        [("RAX", rax), ("RBX", rbx), ("RCX", rcx), ("RDX", rdx), ("RSI", rsi), ("RDI", rdi), ("RBP", rbp),
         ("R8", r8), ("R9", r9), ("R10", r10), ("R11", r11), ("R12", r12), ("R13", r13), ("R14", r14), ("R15", r15)]
    }

    /// The values in the order `named` has them.
    public var values: [UInt64] { named.map(\.value) }
}
extension PageWalkEntries: Equatable, Sendable {
    public var entries: [UInt64] { (0..<count).map { self[$0] } }
}
#endif
