extension CPUState {
    /// The registers in QEMU's `info registers` text ("RAX=... RIP=... RFL=...
    /// CS =0008 ... CR0=... EFER=...", or EAX... EIP, EFL outside long mode);
    /// nil if any of them is missing.
    init?(qemuRegisters text: String) {
        var values: [Substring: UInt64] = [:]
        var previous: Substring = ""
        for token in text.split(whereSeparator: \.isWhitespace) {
            guard let equals = token.firstIndex(of: "=") else {
                previous = token
                continue
            }
            // "CS =0008": the name is the token before, for the two-letter names QEMU pads.
            let name = equals == token.startIndex ? previous : token[..<equals]
            let digits = token[token.index(after: equals)...]
            if values[name] == nil, let value = UInt64(digits, radix: 16) { values[name] = value }
            previous = token
        }
        // In 32-bit modes QEMU names the registers EAX..., EIP, EFL.
        func value(_ name: Substring) -> UInt64? {
            values[name] ?? values["E" + name.dropFirst()] ?? (name == "RFL" ? values["EFL"] : nil)
        }
        guard let rip = value("RIP"), let rsp = value("RSP"), let rflags = value("RFL"),
              let rax = value("RAX"), let rbx = value("RBX"), let rcx = value("RCX"), let rdx = value("RDX"),
              let rsi = value("RSI"), let rdi = value("RDI"), let rbp = value("RBP"), let cs = value("CS"),
              let cr0 = value("CR0"), let cr2 = value("CR2"), let cr3 = value("CR3"), let cr4 = value("CR4"),
              let efer = value("EFER")
        else { return nil }
        self.rip = rip; self.rsp = rsp; self.rflags = rflags
        self.rax = rax; self.rbx = rbx; self.rcx = rcx; self.rdx = rdx
        self.rsi = rsi; self.rdi = rdi; self.rbp = rbp
        self.cs = UInt16(truncatingIfNeeded: cs)
        self.cr0 = cr0; self.cr2 = cr2; self.cr3 = cr3; self.cr4 = cr4; self.efer = efer
    }
}

/// Whether QEMU's `info registers` text shows a vCPU halted with interrupts
/// off ("HLT=1" and IF, bit 9 of EFL/RFL, clear): nothing can wake it, as
/// a `hlt` KVM reports with nothing to wake it.
func qemuShowsHaltedForGood(_ text: String) -> Bool {
    var halted = false, flags: UInt64?
    for token in text.split(whereSeparator: \.isWhitespace) {
        if token == "HLT=1" { halted = true }
        if flags == nil, token.hasPrefix("RFL=") || token.hasPrefix("EFL=") { flags = UInt64(token.dropFirst(4), radix: 16) }
    }
    guard halted, let flags else { return false }
    return flags & (1 << 9) == 0
}
