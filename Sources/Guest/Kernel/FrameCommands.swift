// The host's commands for the frame allocator.

enum FrameCommands {
    /// The head of the chain `exhaustFrames` builds through the frames it takes.
    private static var exhaustedChain: UInt64 = 0

    static func statistics(_ record: inout RecordWriter) {
        record.append(PhysicalMemory.frames.totalFrames)
        record.append(PhysicalMemory.frames.freeFrames)
        record.append(PhysicalMemory.frames.usedFrames)
        record.append(PhysicalMemory.frames.reservedFrames)
        record.append(PhysicalMemory.frames.usableFrames)
        record.append(PhysicalMemory.bitmapPhysical)
        record.append(PhysicalMemory.bitmapBytes)
        record.append(UInt64(KernelAddressSpace.pagemap.tablesCreated - KernelAddressSpace.pagemap.tablesFreed + 1))
        record.append(UInt64(PhysicalMemory.reservationCount))
        for index in 0..<PhysicalMemory.reservationCount {
            let reservation = PhysicalMemory.reservations[index]
            record.append(reservation.kind)
            record.append(reservation.range.start << frameShift)
            record.append(reservation.range.end << frameShift)
            record.append(reservation.taken)
        }
    }

    static func allocate(count: UInt64, _ record: inout RecordWriter) {
        var left = min(count, UInt64(maximumFramesPerReply))
        while left > 0, let frame = PhysicalMemory.frames.allocate() {
            record.append(frame.address)
            left -= 1
        }
    }

    static func allocateContiguous(count: UInt64, alignment: UInt64) -> UInt64 {
        PhysicalMemory.frames.allocateContiguous(count: count, alignment: alignment)?.address ?? noFrame
    }

    static func query(_ address: UInt64, _ record: inout RecordWriter) {
        let frame = Frame(containing: address)
        record.append(PhysicalMemory.frames.isFree(frame) ? 1 : 0)
        record.append(PhysicalMemory.frames.isReserved(frame) ? 1 : 0)
        // Whether a frame needs zeroing only means something for frames the allocator hands out.
        let handable = frame.number < PhysicalMemory.frames.frameCount && !PhysicalMemory.frames.isReserved(frame)
        record.append(handable && PhysicalMemory.frames.mustZero(frame) ? 1 : 0)
    }

    /// Takes every free frame, marking each so the host can find them all in
    /// guest memory. Returns count, lowest and highest address.
    static func exhaust() -> (count: UInt64, lowest: UInt64, highest: UInt64) {
        var count: UInt64 = 0
        var lowest = UInt64.max
        var highest: UInt64 = 0
        while let frame = PhysicalMemory.frames.allocate() {
            let page = KernelLayout.directMap(frame.address)
            page.storeBytes(of: exhaustionMarker ^ frame.address, as: UInt64.self)
            page.storeBytes(of: exhaustedChain, toByteOffset: 8, as: UInt64.self)
            exhaustedChain = frame.address | 1  // bit 0 set: never 0, even for frame 0
            count += 1
            lowest = min(lowest, frame.address)
            highest = max(highest, frame.address)
        }
        return (count, lowest, highest)
    }

    static func freeExhausted() -> UInt64 {
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
