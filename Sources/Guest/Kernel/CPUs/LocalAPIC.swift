// The local APIC (xAPIC, memory-mapped at LOCAL_APIC_PHYSICAL): how one CPU
// starts, wakes or interrupts another. Mapped into the kernel region at its
// direct-map address, uncached, only when there are several CPUs (KVMHost
// gives a one-CPU guest no LAPIC at all).

enum LocalAPIC {
    static let base = UInt(DIRECT_MAP_BASE) + UInt(LOCAL_APIC_PHYSICAL)

    private static let id: UInt = 0x20
    private static let endOfInterrupt: UInt = 0xB0
    private static let spuriousVector: UInt = 0xF0
    private static let commandLow: UInt = 0x300
    private static let commandHigh: UInt = 0x310

    private static let softwareEnable: UInt32 = 1 << 8
    private static let deliveryPending: UInt32 = 1 << 12
    private static let levelAssert: UInt32 = 1 << 14
    private static let deliveryINIT: UInt32 = 0b101 << 8
    private static let deliveryStartup: UInt32 = 0b110 << 8

    /// Maps the registers' page into `pagemap` (not yet loaded).
    static func map(into pagemap: inout Pagemap) {
        do {
            try pagemap.map(Page(startingAt: UInt64(base))!, to: Frame(containing: UInt64(LOCAL_APIC_PHYSICAL)),
                            flags: [.writable, .noExecute, .cacheDisable, .writeThrough], frames: &PhysicalMemory.frames)
                .ignore()  // not loaded in CR3 yet
        } catch {
            kernelPanic("cannot map the local APIC", UInt64(LOCAL_APIC_PHYSICAL))
        }
    }

    /// Accepts interrupts (the spurious-vector register's enable bit; its
    /// vector 0xFF is never used).
    static func enable() {
        cpu_mmio_write32(base + spuriousVector, softwareEnable | 0xFF)
    }

    static var currentID: UInt64 { UInt64(cpu_mmio_read32(base + id) >> 24) }

    static func acknowledge() { cpu_mmio_write32(base + endOfInterrupt, 0) }

    /// INIT, then two start-up IPIs with the trampoline's page as vector, as
    /// the MP specification has it. A CPU already started ignores the second.
    static func start(_ apicID: UInt64, trampolinePage: UInt64) {
        send(to: apicID, deliveryINIT | levelAssert)
        for _ in 0..<2 { send(to: apicID, deliveryStartup | UInt32(truncatingIfNeeded: trampolinePage)) }
    }

    /// A fixed interrupt of `vector` to the CPU with `apicID`.
    static func interrupt(_ apicID: UInt64, vector: UInt32) {
        send(to: apicID, levelAssert | vector)
    }

    private static func send(to apicID: UInt64, _ command: UInt32) {
        cpu_mmio_write32(base + commandHigh, UInt32(truncatingIfNeeded: apicID) << 24)
        cpu_mmio_write32(base + commandLow, command)
        while cpu_mmio_read32(base + commandLow) & deliveryPending != 0 { cpu_pause() }
    }
}
