// Calls about several CPUs: what a TLB shootdown must achieve, and what it costs.

/// CPU 1 reads a page of the kernel's address space from ring 0 in a loop
/// while the boot CPU unmaps it, `rounds` times, each round with a fresh
/// page and frame: once the unmap (and its shootdown) has returned, CPU 1's
/// next read must fault. Needs 2 CPUs or more (`needsSeveralCPUs`).
// wire: call 38
public struct CheckRemoteShootdown: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        /// Reads CPU 1 made before the unmap, a word a round (at least 1:
        /// the boot CPU waits for one, so that CPU 1's TLB holds the page).
        public var readsBefore: [UInt64]
        /// Reads that succeeded after the unmap and its shootdown had
        /// returned, a word a round: a stale translation each. CPU 1 stops at
        /// `staleReadLimit`.
        public var staleReads: [UInt64]
        public init(readsBefore: [UInt64], staleReads: [UInt64]) { self.readsBefore = readsBefore; self.staleReads = staleReads }
    }
    // wire: rounds in 1...CheckRemoteShootdown.roundLimit
    public var rounds: UInt64
    /// Two words a round in one reply record (4096 bytes): 200 fit.
    public static let roundLimit: UInt64 = 200
    public static let staleReadLimit: UInt64 = 1000
    /// The page CPU 1 reads, in the kernel's address space (user half).
    public static let page: UInt64 = 0x60_0000_0000
    public init(rounds: UInt64) { self.rounds = rounds }
}

/// What several CPUs cost, in TSC cycles, each the median of `rounds`:
/// the boot CPU against CPU 1. Needs 2 CPUs or more.
// wire: call 39
public struct MeasureSeveralCPUs: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        /// Work posted to CPU 1, the wake IPI, CPU 1 taking it and saying it is done.
        public var wakeRoundTrip: UInt64
        /// invlpg of `pages` pages on the boot CPU alone.
        public var localInvalidate: UInt64
        /// The same pages shot down to CPU 1 (which has the address space
        /// loaded), from the IPI to its acknowledgement; above
        /// `TLBShootdown.pageCeiling` pages CPU 1 reloads CR3 instead.
        public var shootdown: UInt64
        /// A CR3 reload on the boot CPU alone.
        public var localFullFlush: UInt64
        /// A full flush shot down to CPU 1.
        public var fullShootdown: UInt64
        public init(wakeRoundTrip: UInt64, localInvalidate: UInt64, shootdown: UInt64, localFullFlush: UInt64, fullShootdown: UInt64) {
            self.wakeRoundTrip = wakeRoundTrip; self.localInvalidate = localInvalidate; self.shootdown = shootdown
            self.localFullFlush = localFullFlush; self.fullShootdown = fullShootdown
        }
    }
    // wire: pages in 1...512
    public var pages: UInt64
    // wire: rounds in 1...MeasureSeveralCPUs.roundLimit
    public var rounds: UInt64
    public static let roundLimit: UInt64 = 1000
    public init(pages: UInt64, rounds: UInt64) { self.pages = pages; self.rounds = rounds }
}
