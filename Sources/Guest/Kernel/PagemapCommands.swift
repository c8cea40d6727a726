// The host's commands for the kernel's Pagemap. They change the live address
// space, so every change is flushed from the TLB.

enum PagemapCommands {
    static func map(_ virtual: UInt64, _ physical: UInt64, _ flags: UInt64, _ record: inout RecordWriter) -> UInt64 {
        guard let page = Page(startingAt: virtual) else {
            return fail(VirtualAddress(virtual) == nil ? PagemapErrorCode.nonCanonical : PagemapErrorCode.misaligned, virtual, 0, &record)
        }
        var frame = Frame(containing: physical)
        if physical == noFrame {
            guard let taken = PhysicalMemory.frames.allocate() else {
                return fail(PagemapErrorCode.frameAllocationFailed, 0, 0, &record)
            }
            frame = taken
        }
        do {
            try KernelAddressSpace.pagemap.map(page, to: frame, flags: PageTableFlags(rawValue: flags),
                                               frames: &PhysicalMemory.frames).flush { cpu_invlpg(UInt($0)) }
        } catch {
            if physical == noFrame { try? PhysicalMemory.frames.free(frame) }
            return fail(error, &record)
        }
        record.append(frame.address)
        return ReplyStatus.ok
    }

    static func unmap(_ virtual: UInt64, freeFrame: Bool, _ record: inout RecordWriter) -> UInt64 {
        guard let page = Page(startingAt: virtual) else {
            return fail(VirtualAddress(virtual) == nil ? PagemapErrorCode.nonCanonical : PagemapErrorCode.misaligned, virtual, 0, &record)
        }
        do {
            let flush = try KernelAddressSpace.pagemap.unmap(page, frames: &PhysicalMemory.frames)
            let frame = flush.unmappedFrame
            flush.flush { cpu_invlpg(UInt($0)) }
            if freeFrame, let frame { PhysicalMemory.free(frame) }
            record.append(frame?.address ?? noFrame)
            return ReplyStatus.ok
        } catch {
            return fail(error, &record)
        }
    }

    static func translate(_ virtual: UInt64, _ record: inout RecordWriter) -> UInt64 {
        guard let address = VirtualAddress(virtual) else {
            return fail(PagemapErrorCode.nonCanonical, virtual, 0, &record)
        }
        if let translation = KernelAddressSpace.pagemap.translate(address) {
            record.append(1)
            record.append(translation.physical)
            record.append(translation.flags.rawValue)
            record.append(translation.pageSize)
        } else {
            record.append(0)
            switch KernelAddressSpace.pagemap.locatePage(address) {
            case .notPresent(let level, let lazy):
                record.append(UInt64(level))
                record.append(lazy ? 1 : 0)
            case .present:
                record.append(0)
                record.append(0)
            }
        }
        return ReplyStatus.ok
    }

    private static func fail(_ error: PagemapError, _ record: inout RecordWriter) -> UInt64 {
        switch error {
        case .nonCanonical(let address): return fail(PagemapErrorCode.nonCanonical, address, 0, &record)
        case .misaligned(let address): return fail(PagemapErrorCode.misaligned, address, 0, &record)
        case .alreadyMapped(let page, let frame): return fail(PagemapErrorCode.alreadyMapped, page, frame.address, &record)
        case .frameAllocationFailed(let level): return fail(PagemapErrorCode.frameAllocationFailed, UInt64(level), 0, &record)
        case .parentIsHugePage(let level): return fail(PagemapErrorCode.parentIsHugePage, UInt64(level), 0, &record)
        case .notMapped(let page, let level): return fail(PagemapErrorCode.notMapped, page, UInt64(level), &record)
        }
    }

    private static func fail(_ code: UInt64, _ first: UInt64, _ second: UInt64, _ record: inout RecordWriter) -> UInt64 {
        record.append(code)
        record.append(first)
        record.append(second)
        return ReplyStatus.pagemapError
    }
}
