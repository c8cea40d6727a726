import CKVM

/// The registers a failure report shows.
public struct CPUState: Equatable, Sendable, CustomStringConvertible {
    public var rip: UInt64
    public var rsp: UInt64
    public var rflags: UInt64
    public var rax: UInt64, rbx: UInt64, rcx: UInt64, rdx: UInt64
    public var rsi: UInt64, rdi: UInt64, rbp: UInt64
    public var cs: UInt16
    public var cr0: UInt64
    public var cr2: UInt64
    public var cr3: UInt64
    public var cr4: UInt64
    public var efer: UInt64

    init(regs: kvm_regs, sregs: kvm_sregs) {
        rip = regs.rip; rsp = regs.rsp; rflags = regs.rflags
        rax = regs.rax; rbx = regs.rbx; rcx = regs.rcx; rdx = regs.rdx
        rsi = regs.rsi; rdi = regs.rdi; rbp = regs.rbp
        cs = sregs.cs.selector
        cr0 = sregs.cr0; cr2 = sregs.cr2; cr3 = sregs.cr3; cr4 = sregs.cr4; efer = sregs.efer
    }

    public var description: String {
        "RIP=\(hex(rip)) RSP=\(hex(rsp)) RFLAGS=\(hex(rflags)) CS=\(hex(UInt64(cs)))\n"
            + "RAX=\(hex(rax)) RBX=\(hex(rbx)) RCX=\(hex(rcx)) RDX=\(hex(rdx)) RSI=\(hex(rsi)) RDI=\(hex(rdi)) RBP=\(hex(rbp))\n"
            + "CR0=\(hex(cr0)) CR2=\(hex(cr2)) CR3=\(hex(cr3)) CR4=\(hex(cr4)) EFER=\(hex(efer))"
    }
}

/// Another CPU's registers when a run failed on one.
public struct OtherCPU: Sendable {
    public let index: Int
    public let state: CPUState
}
