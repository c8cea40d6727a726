/// Execution breakpoints in the four debug-register slots. A planted
/// `int3` in ring 0 ends in KVM_EXIT_INTERNAL_ERROR on this project's KVM,
/// so every breakpoint gdb asks for (Z0 or Z1) is served by DR0-DR3, and a
/// fifth is refused.
struct HardwareBreakpoints: Equatable {
    /// DR0-DR3.
    static let slots = 4

    private(set) var addresses: [UInt64?] = [nil, nil, nil, nil]

    var isEmpty: Bool { addresses.allSatisfy { $0 == nil } }

    /// False when all four slots are taken.
    mutating func insert(_ address: UInt64) -> Bool {
        if addresses.contains(address) { return true }
        guard let free = addresses.firstIndex(of: nil) else { return false }
        addresses[free] = address
        return true
    }

    mutating func remove(_ address: UInt64) {
        if let index = addresses.firstIndex(of: address) { addresses[index] = nil }
    }

    mutating func removeAll() { addresses = [nil, nil, nil, nil] }

    func contains(_ address: UInt64) -> Bool { addresses.contains(address) }

    /// DR0-DR3, then DR7: a local enable per slot, type and length 00 (execution).
    var debugRegisters: [UInt64] {
        var dr7: UInt64 = 0
        for (index, address) in addresses.enumerated() where address != nil { dr7 |= 1 << UInt64(2 * index) }
        return addresses.map { $0 ?? 0 } + [dr7]
    }
}

/// Write watchpoints, served by single-stepping the guest and comparing the
/// watched bytes after every instruction. Hardware data breakpoints were
/// tried first: on this project's KVM, ring-0 code runs in KVM's
/// instruction emulator, which does not check them, and they never fired
/// (DR7 RW=01 on a plain 32-bit store loop). Stepping works wherever KVM
/// can single-step, fires exactly when the value changes (as gdb's own
/// software watchpoints do), and is limited only by speed.
struct SteppedWatchpoints {
    struct Watch: Equatable {
        let address: UInt64
        let length: Int
        var value: [UInt8]?
    }

    static let maximum = 4

    private(set) var watches: [Watch] = []

    var isEmpty: Bool { watches.isEmpty }

    /// False when `maximum` are set, or the length is not 1 to 8.
    mutating func insert(address: UInt64, length: Int, value: [UInt8]?) -> Bool {
        if watches.contains(where: { $0.address == address && $0.length == length }) { return true }
        guard watches.count < Self.maximum, (1...8).contains(length) else { return false }
        watches.append(Watch(address: address, length: length, value: value))
        return true
    }

    mutating func remove(address: UInt64, length: Int) {
        watches.removeAll { $0.address == address && $0.length == length }
    }

    mutating func removeAll() { watches.removeAll() }

    /// The first watch whose bytes differ from last time (`read` gives them
    /// now); every watch takes its new value.
    mutating func changed(_ read: (UInt64, Int) -> [UInt8]?) -> Watch? {
        var first: Watch?
        for index in watches.indices {
            let now = read(watches[index].address, watches[index].length)
            if now != watches[index].value {
                watches[index].value = now
                if first == nil { first = watches[index] }
            }
        }
        return first
    }
}
