// The kernel's side of the calls to the frame allocator.

extension ReadFrameStatistics {
    public func perform() throws(CallError) -> FrameStatistics {
        var reservations: [FrameStatistics.Reservation] = []
        for index in 0..<PhysicalMemory.reservationCount {
            let reservation = PhysicalMemory.reservations[index]
            reservations.append(FrameStatistics.Reservation(
                kind: reservation.kind, start: reservation.range.start << frameShift,
                end: reservation.range.end << frameShift, framesTaken: reservation.taken))
        }
        return FrameStatistics(
            total: PhysicalMemory.frames.totalFrames, free: PhysicalMemory.frames.freeFrames,
            used: PhysicalMemory.frames.usedFrames, reserved: PhysicalMemory.frames.reservedFrames,
            usable: PhysicalMemory.frames.usableFrames, bitmapPhysical: PhysicalMemory.bitmapPhysical, bitmapBytes: PhysicalMemory.bitmapBytes,
            kernelPageTables: UInt64(KernelAddressSpace.pagemap.tablesCreated - KernelAddressSpace.pagemap.tablesFreed + 1),
            reservations: reservations)
    }
}

extension AllocateFrames {
    public func perform() throws(CallError) -> [UInt64] {
        guard count <= Self.limit else { throw .tooMany(requested: count, limit: Self.limit) }
        var addresses: [UInt64] = []
        addresses.reserveCapacity(Int(count))
        while UInt64(addresses.count) < count, let frame = PhysicalMemory.frames.allocate() {
            addresses.append(frame.address)
        }
        return addresses
    }
}

extension FreeFrame {
    /// A free asked from outside the kernel is checked, and refused with the
    /// allocator's reason; the kernel's own frees of its frames cannot fail.
    public func perform() throws(CallError) -> Done {
        guard address % frameSize == 0 else { throw .misalignedFrame(address: address) }
        let frame = Frame(containing: address)
        // A live table of the kernel's would be handed out again while in
        // use. Only a frame in use can be one: the scan (thousands of
        // emulated instructions) runs for no other, whose free the
        // allocator refuses anyway.
        if frame.number < PhysicalMemory.frames.frameCount && !PhysicalMemory.frames.isFree(frame)
            && !PhysicalMemory.frames.isReserved(frame) && KernelAddressSpace.pagemap.holdsTable(frame) {
            throw .pageTableFrame(address: address)
        }
        try CallMappings.checkUnmapped(frame)
        do throws(FrameError) {
            try PhysicalMemory.frames.free(frame)
        } catch {
            throw .frame(error)
        }
        return Done()
    }
}

extension AllocateContiguousFrames {
    public func perform() throws(CallError) -> UInt64? {
        PhysicalMemory.frames.allocateContiguous(count: count, alignment: alignment)?.address
    }
}

extension QueryFrame {
    public func perform() throws(CallError) -> Reply {
        let frame = Frame(containing: address)
        // Whether a frame needs zeroing only means something for frames the allocator hands out.
        let reserved = PhysicalMemory.frames.isReserved(frame)
        let handable = frame.number < PhysicalMemory.frames.frameCount && !reserved
        return Reply(isFree: PhysicalMemory.frames.isFree(frame), isReserved: reserved,
                     mustZero: handable && PhysicalMemory.frames.mustZero(frame))
    }
}

/// The head of the chain `ExhaustFrames` builds through the frames it takes.
private var exhaustedChain: UInt64 = 0

extension ExhaustFrames {
    public func perform() throws(CallError) -> Reply {
        var reply = Reply(count: 0, lowest: .max, highest: 0)
        while let frame = PhysicalMemory.frames.allocate() {
            let page = KernelLayout.directMap(frame.address)
            page.storeBytes(of: Self.marker ^ frame.address, as: UInt64.self)
            page.storeBytes(of: exhaustedChain, toByteOffset: 8, as: UInt64.self)
            exhaustedChain = frame.address | 1  // bit 0 set: never 0, even for frame 0
            reply.count += 1
            reply.lowest = min(reply.lowest, frame.address)
            reply.highest = max(reply.highest, frame.address)
        }
        return reply
    }
}

extension FreeExhaustedFrames {
    public func perform() throws(CallError) -> UInt64 {
        var count: UInt64 = 0
        while exhaustedChain != 0 {
            let address = exhaustedChain & ~1
            exhaustedChain = KernelLayout.directMap(address).load(fromByteOffset: 8, as: UInt64.self)
            PhysicalMemory.free(Frame(containing: address))
            count += 1
        }
        return count
    }
}

extension RequireFrame {
    public func perform() throws(CallError) -> UInt64 {
        PhysicalMemory.requireFrame(for: "a frame the host required").address
    }
}

extension RestartFrameSearch {
    public func perform() throws(CallError) -> Done {
        PhysicalMemory.frames.startSearch(at: Frame(number: fresh ? PhysicalMemory.frames.handedOutBelow : 0))
        return Done()
    }
}
