// The kernel's side of the calls to its live Pagemap. Every change is
// flushed from the TLB. The kernel's own region is refused: a call must not
// be a way to break the kernel by accident (unmapping the page the fault
// handler runs on livelocks the guest).

extension MapPage {
    public func perform() throws(CallError) -> UInt64 {
        let page = try Page.forCall(virtual)
        var frame: Frame
        switch self.frame {
        case .existing(let physical):
            guard physical % frameSize == 0 else { throw .misalignedFrame(address: physical) }
            frame = Frame(containing: physical)
            guard frame.number < PhysicalMemory.frames.frameCount else { throw .beyondMemory(address: physical) }
            if !flags.intersection([.writable, .user]).isEmpty {
                if CallMappings.isKernelFrame(frame) { throw .kernelFrame(address: physical) }
                if PhysicalMemory.frames.isFree(frame) { throw .unallocatedFrame(address: physical) }
            }
        case .allocate:
            guard let taken = PhysicalMemory.frames.allocate() else { throw .outOfFrames }
            frame = taken
        }
        do throws(MapError) {
            try KernelAddressSpace.pagemap.map(page, to: frame, flags: flags, frames: &PhysicalMemory.frames)
                .flush { TLB.invalidate($0, at: .mapPageCall) }
        } catch {
            if self.frame == .allocate { PhysicalMemory.free(frame) }
            throw .map(error)
        }
        CallMappings.added(frame, at: virtual)
        return frame.address
    }
}

extension UnmapPage {
    public func perform() throws(CallError) -> UInt64? {
        let page = try Page.forCall(virtual)
        // A frame that could not be freed is refused before anything changes.
        if freeFrame, let mapped = KernelAddressSpace.pagemap.translate(page.start) {
            let frame = Frame(containing: mapped.physical)
            if PhysicalMemory.frames.isReserved(frame) { throw .frame(.reservedFrame(frame: frame.number)) }
            if PhysicalMemory.frames.isFree(frame) { throw .frame(.doubleFree(frame: frame.number)) }
            try CallMappings.checkUnmapped(frame, besides: 1)
        }
        let flush: TLBFlush
        do throws(UnmapError) {
            flush = try KernelAddressSpace.pagemap.unmap(page, frames: &PhysicalMemory.frames)
        } catch {
            throw .unmap(error)
        }
        let frame = flush.unmappedFrame
        flush.flush { TLB.invalidate($0, at: .unmapPageCall) }
        if let frame { CallMappings.removed(frame) }
        if freeFrame, let frame { PhysicalMemory.free(frame) }
        return frame?.address
    }
}

extension Page {
    /// The page a call names: canonical, aligned, outside the kernel's
    /// region and outside the test memory space's reservations.
    fileprivate static func forCall(_ virtual: UInt64) throws(CallError) -> Page {
        guard let address = VirtualAddress(virtual) else { throw .nonCanonical(address: virtual) }
        guard let page = Page(startingAt: virtual) else { throw .misalignedPage(address: virtual) }
        guard !KernelAddressSpace.isKernelRegion(address) else { throw .kernelPage(address: virtual) }
        if let reservation = TestSpace.space.reservation(containing: virtual) {
            throw .memorySpacePage(address: virtual, reservation: reservation.start)
        }
        return page
    }
}

extension Translate {
    public func perform() throws(CallError) -> Reply {
        guard let address = VirtualAddress(virtual) else { throw .nonCanonical(address: virtual) }
        if let translation = KernelAddressSpace.pagemap.translate(address) {
            return .mapped(physical: translation.physical, flags: translation.flags, pageSize: translation.pageSize)
        }
        switch KernelAddressSpace.pagemap.locatePage(address) {
        case .notPresent(let level, let lazy): return .notPresent(level: level, lazy: lazy)
        case .present: kernelPanic("translate and locatePage disagree", virtual)
        }
    }
}

extension ReadPagemapCounts {
    public func perform() throws(CallError) -> Reply {
        Reply(root: KernelAddressSpace.pagemap.root.address, tablesCreated: UInt64(KernelAddressSpace.pagemap.tablesCreated),
              tablesFreed: UInt64(KernelAddressSpace.pagemap.tablesFreed))
    }
}

extension RunAccessChecks {
    public func perform() throws(CallError) -> AccessCheckResults { try AccessChecks.run(first: first, count: count) }
}

extension RunUserAccessChecks {
    public func perform() throws(CallError) -> AccessCheckResults { try UserAccessChecks.run(first: first, count: count) }
}

extension RunHugeLeafChecks {
    public func perform() throws(CallError) -> AccessCheckResults { try HugeLeafChecks.run(first: first, count: count) }
}

extension ReadMemory {
    /// Each page is translated through the kernel's own tables and read
    /// through the direct map: the bytes a load would see, without a fault
    /// where a load would take one.
    public func perform() throws(CallError) -> WireBytes {
        guard count <= Self.limit else { throw .tooMany(requested: count, limit: Self.limit) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(count))
        var offset: UInt64 = 0
        while offset < count {
            let at = virtual &+ offset
            guard let address = VirtualAddress(at), let translation = KernelAddressSpace.pagemap.translate(address) else {
                throw .unreadable(address: at)
            }
            let inPage = min(count - offset, pageSize - at % pageSize)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: KernelLayout.directMap(translation.physical), count: Int(inPage)))
            offset += inPage
        }
        return WireBytes(bytes)
    }
}
