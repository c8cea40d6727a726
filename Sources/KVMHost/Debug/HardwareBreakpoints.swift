/// The four debug-register slots, shared by breakpoints and watchpoints:
/// a planted `int3` in ring 0 ends in KVM_EXIT_INTERNAL_ERROR on this
/// project's KVM, so every breakpoint gdb asks for is served by DR0-DR3,
/// and a fifth is refused.
struct HardwareBreakpoints: Equatable {
    enum Kind: Equatable {
        case execute
        case write
        case access
    }

    struct Slot: Equatable {
        let address: UInt64
        let kind: Kind
        /// 1, 2, 4 or 8 bytes; 1 for execution.
        let length: Int
    }

    private(set) var slots: [Slot?] = [nil, nil, nil, nil]

    var isEmpty: Bool { slots.allSatisfy { $0 == nil } }

    /// Adds a slot; false when all four are taken or the watch is not a
    /// naturally aligned 1, 2, 4 or 8 bytes.
    mutating func insert(_ slot: Slot) -> Bool {
        if slots.contains(slot) { return true }
        guard [1, 2, 4, 8].contains(slot.length), slot.address % UInt64(slot.length) == 0,
              let free = slots.firstIndex(of: nil) else { return false }
        slots[free] = slot
        return true
    }

    mutating func remove(_ slot: Slot) -> Bool {
        guard let index = slots.firstIndex(of: slot) else { return false }
        slots[index] = nil
        return true
    }

    mutating func removeAll() { slots = [nil, nil, nil, nil] }

    func executes(at address: UInt64) -> Bool {
        slots.contains { $0?.kind == .execute && $0?.address == address }
    }

    /// DR0-DR3, then DR7: local enable, type (RW) and length (LEN) a slot.
    var debugRegisters: [UInt64] {
        // Bit 10 reads as one; LE and GE (bits 8, 9) ask for exact data breakpoints.
        var dr7: UInt64 = 0x700
        for (index, slot) in slots.enumerated() {
            guard let slot else { continue }
            let type: UInt64 = switch slot.kind { case .execute: 0b00; case .write: 0b01; case .access: 0b11 }
            let length: UInt64
            switch (slot.kind, slot.length) {
            case (.execute, _), (_, 1): length = 0b00
            case (_, 2): length = 0b01
            case (_, 8): length = 0b10
            default: length = 0b11
            }
            dr7 |= 1 << UInt64(2 * index)
            dr7 |= (type | length << 2) << UInt64(16 + 4 * index)
        }
        return slots.map { $0?.address ?? 0 } + [dr7]
    }
}
