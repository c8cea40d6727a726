// The demand-paging fast path (Assembly/fast-fault.S, trap_stub_14) serves the lazy
// reservation the page trap last resolved, from a cache of known-zero frames
// the kernel keeps filled. The page trap arms it, refills it and drains it;
// decisions it takes are counted, not reported, so it stays off while a
// test asks for every decision.

enum FastFaults {
    static let cacheCapacity = Int(FAST_FAULT_CACHE_CAPACITY)

    private static var state: UnsafeMutablePointer<fast_fault_state> { fast_fault_state_get()! }

    /// Faults the fast path resolved since the last `takeCount`.
    static func takeCount() -> UInt64 {
        let count = UInt64(state.pointee.count)
        state.pointee.count = 0
        return count
    }

    /// Lets the fast path serve the rest of `reservation`, in the page table
    /// of `faultAddress` (others are marked as the slow path builds them).
    static func arm(for reservation: Reservation, faultAddress: UInt64) {
        guard reservation.backing == .lazy, !CurrentProcess.reportFaults else { return }
        CurrentProcess.pagemap.markCountStale(for: VirtualAddress(faultAddress)!)
        state.pointee.root = UInt(CurrentProcess.pagemap.root.address)
        state.pointee.start = UInt(reservation.start)
        state.pointee.end = UInt(reservation.end)
        // The entry's bits as the Pagemap makes them: without NX, bit 63 is
        // a reserved bit and every page so mapped would fault with RSVD.
        state.pointee.flags = UInt(PageTableEntry(address: 0, flags: reservation.flags.union(.present)).raw)
        refill()
    }

    static func disarm() {
        state.pointee.start = 0
        state.pointee.end = 0
    }

    /// Fills the cache with known-zero frames: one aligned run of 64 (one
    /// bitmap word: cheap to take) where the allocator has one, else one by one.
    static func refill() {
        let fast = state
        if fast.pointee.cache_count == 0,
           let (first, mustZero) = PhysicalMemory.frames.allocateContiguousTrackingZero(count: UInt64(cacheCapacity),
                                                                                      alignment: UInt64(cacheCapacity)) {
            withUnsafeMutableBytes(of: &fast.pointee.cache) { cache in
                for index in 0..<cacheCapacity {
                    let frame = Frame(number: first.number + UInt64(index))
                    if mustZero { ProcessRunner.zeroFrame(frame) }
                    cache.storeBytes(of: UInt(frame.address), toByteOffset: index * 8, as: UInt.self)
                }
            }
            fast.pointee.cache_count = UInt(cacheCapacity)
            return
        }
        withUnsafeMutableBytes(of: &fast.pointee.cache) { cache in
            while Int(fast.pointee.cache_count) < cacheCapacity, let (frame, mustZero) = PhysicalMemory.frames.allocateTrackingZero() {
                if mustZero { ProcessRunner.zeroFrame(frame) }
                cache.storeBytes(of: UInt(frame.address), toByteOffset: Int(fast.pointee.cache_count) * 8, as: UInt.self)
                fast.pointee.cache_count += 1
            }
        }
    }

    /// Gives the cached frames back and stops the fast path (a process ends).
    static func drain() {
        disarm()
        let fast = state
        withUnsafeBytes(of: &fast.pointee.cache) { cache in
            for index in 0..<Int(fast.pointee.cache_count) {
                PhysicalMemory.free(Frame(containing: UInt64(cache.load(fromByteOffset: index * 8, as: UInt.self))))
            }
        }
        fast.pointee.cache_count = 0
    }
}
