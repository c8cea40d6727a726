/// 32-bit x86 machine code for tiny test guests, which start in protected
/// mode with paging off at their PVH entry. Only the few instructions the
/// hostile-guest tests need, each spelled out with its encoding.
public struct Code32 {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Raw instruction bytes, for the one-byte instructions this does not name (cli FA, sti FB, hlt F4).
    public mutating func raw(_ more: UInt8...) { bytes += more }

    public mutating func movEAX(_ value: UInt32) { bytes += [0xB8] + le32(value) }
    public mutating func movEDX(_ value: UInt32) { bytes += [0xBA] + le32(value) }
    public mutating func movECX(_ value: UInt32) { bytes += [0xB9] + le32(value) }
    public mutating func movESI(_ value: UInt32) { bytes += [0xBE] + le32(value) }
    public mutating func movEDI(_ value: UInt32) { bytes += [0xBF] + le32(value) }
    public mutating func movESP(_ value: UInt32) { bytes += [0xBC] + le32(value) }

    /// rep stosd: ECX doublewords of EAX to [EDI] onwards.
    public mutating func repStosd() { bytes += [0xF3, 0xAB] }

    /// Fills [start, end) with `pattern` (both 4-byte aligned).
    public mutating func fill(from start: UInt32, to end: UInt32, with pattern: UInt32) {
        movEDI(start)
        movECX((end - start) / 4)
        movEAX(pattern)
        repStosd()
    }

    /// out dx, al / ax / eax
    public mutating func outDX(size: Int) {
        bytes += size == 1 ? [0xEE] : size == 2 ? [0x66, 0xEF] : [0xEF]
    }

    /// in al / ax / eax, dx
    public mutating func inDX(size: Int) {
        bytes += size == 1 ? [0xEC] : size == 2 ? [0x66, 0xED] : [0xED]
    }

    /// rep outsb: ECX bytes from [ESI] to port DX.
    public mutating func repOutsb() { bytes += [0xF3, 0x6E] }

    /// mov [address], al / ax / eax
    public mutating func store(size: Int, at address: UInt32) {
        bytes += (size == 1 ? [0xA2] : size == 2 ? [0x66, 0xA3] : [0xA3]) + le32(address)
    }

    /// mov al / ax / eax, [address]
    public mutating func load(size: Int, from address: UInt32) {
        bytes += (size == 1 ? [0xA0] : size == 2 ? [0x66, 0xA1] : [0xA1]) + le32(address)
    }

    /// Writes `status` to the exit port: the run ends with that status.
    public mutating func exit(_ status: UInt32) {
        movEAX(status)
        bytes += [0xE7, 0xF4]  // out 0xF4, eax
    }

    /// Sends `status` whole in an exit frame on COM2 (`LinkFrame.exit`), as
    /// the kernel does under QEMU before isa-debug-exit, which keeps 7 bits.
    /// (On KVM nothing answers COM2.)
    public mutating func sendExitFrame(_ status: UInt32) {
        movEDX(0x2F8)
        for byte in [0x58] + le32(status) {
            movEAX(UInt32(byte))
            outDX(size: 1)
        }
    }

    /// Sends the record at `address` on the report channel.
    public mutating func sendRecord(at address: UInt32) {
        movEAX(address)
        movEDX(0x1000)
        outDX(size: 4)
    }

    /// Counts ECX down from `iterations` to 0: `dec ecx; jnz` in a loop.
    public mutating func delay(iterations: UInt32) {
        movECX(iterations)
        bytes += [0x49, 0x75, 0xFD]  // dec ecx; jnz -3
    }

    /// lidt of an empty table (limit 0), for code that starts at `base`:
    /// KVMHost starts a guest so, QEMU's firmware leaves the real-mode IVT's
    /// limit in IDTR. Jumps over its own 6-byte descriptor.
    public mutating func loadEmptyIDT(base: UInt32 = 0x100000) {
        bytes += [0xEB, 0x06] + [UInt8](repeating: 0, count: 6)  // jmp +6; the descriptor
        let descriptor = base + UInt32(bytes.count) - 6
        bytes += [0x0F, 0x01, 0x1D] + le32(descriptor)  // lidt [descriptor]
    }

    /// ud2 with no IDT: #UD cannot be delivered, nor #DF, so the CPU shuts down.
    public mutating func tripleFault() { bytes += [0x0F, 0x0B] }

    /// Jumps back `distance` bytes before this instruction's start (0: to itself).
    public mutating func jumpBack(to start: Int) {
        let offset = start - (bytes.count + 2)
        precondition(offset >= -128, "a short jump reaches 128 bytes back")
        bytes += [0xEB, UInt8(bitPattern: Int8(offset))]
    }
}
