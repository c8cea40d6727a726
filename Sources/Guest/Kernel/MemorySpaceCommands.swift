// The host's commands for a memory space in the kernel's address space, and
// the timing loops behind the Pagemap benchmark's live-guest figures.

enum MemorySpaceCommands {
    static var space = MemorySpace(base: testSpaceBase, limit: testSpaceBase + MemorySpace.regionSize)

    static func reserve(pages: UInt64, eager: Bool, flags: UInt64, _ record: inout RecordWriter) -> UInt64 {
        do {
            let start = try space.reserve(pages: pages, backing: eager ? .eager : .lazy, flags: PageTableFlags(rawValue: flags),
                                          pagemap: &KernelAddressSpace.pagemap, frames: &PhysicalMemory.frames,
                                          zero: { frame in KernelLayout.directMap(frame.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize)) })
            record.append(start)
            return ReplyStatus.ok
        } catch {
            switch error {
            case .invalidSize(let pages): record.append(MemorySpaceErrorCode.invalidSize); record.append(pages)
            case .outOfAddressSpace(let pages): record.append(MemorySpaceErrorCode.outOfAddressSpace); record.append(pages)
            case .outOfFrames: record.append(MemorySpaceErrorCode.outOfFrames); record.append(0)
            case .notReserved(let address), .overlaps(let address):
                record.append(MemorySpaceErrorCode.notReserved); record.append(address)
            case .pagemap: record.append(MemorySpaceErrorCode.pagemap); record.append(0)
            }
            return ReplyStatus.memorySpaceError
        }
    }

    static func free(_ start: UInt64, _ record: inout RecordWriter) -> UInt64 {
        let before = PhysicalMemory.frames.freeFrames
        do {
            try space.free(start, pagemap: &KernelAddressSpace.pagemap, frames: &PhysicalMemory.frames,
                           invalidate: { cpu_invlpg(UInt($0)) })
        } catch {
            record.append(MemorySpaceErrorCode.notReserved)
            record.append(start)
            return ReplyStatus.memorySpaceError
        }
        record.append(PhysicalMemory.frames.freeFrames - before)
        return ReplyStatus.ok
    }

    static func query(_ address: UInt64, _ record: inout RecordWriter) {
        let found = space.reservation(containing: address)
        record.append(found == nil ? 0 : 1)
        record.append(found?.start ?? 0)
        record.append(found?.pageCount ?? 0)
        record.append(found?.backing == .eager ? 1 : 0)
        record.append(space.highWaterMark)
        record.append(UInt64(space.fallbackCount))
    }

    /// Maps, translates or unmaps `count` pages at `benchmarkBase`, all onto
    /// one frame, so that the host can time the Pagemap alone.
    static func benchmark(phase: UInt64, count: UInt64, _ record: inout RecordWriter) -> UInt64 {
        let created = KernelAddressSpace.pagemap.tablesCreated
        let freed = KernelAddressSpace.pagemap.tablesFreed
        let frame = Frame(containing: KernelLayout.physical(ofImage: UnsafeRawPointer(kernel_layout_get()!)))
        var index: UInt64 = 0
        var sum: UInt64 = 0
        while index < count {
            let address = benchmarkBase + index * pageSize
            switch phase {
            case 0:
                guard let flush = try? KernelAddressSpace.pagemap.map(Page(startingAt: address)!, to: frame, flags: [.noExecute],
                                                                      frames: &PhysicalMemory.frames) else { return ReplyStatus.badArguments }
                flush.flush { cpu_invlpg(UInt($0)) }
            case 1:
                sum &+= KernelAddressSpace.pagemap.translate(VirtualAddress(address)!)?.physical ?? 0
            default:
                guard let flush = try? KernelAddressSpace.pagemap.unmap(Page(startingAt: address)!, frames: &PhysicalMemory.frames)
                else { return ReplyStatus.badArguments }
                flush.flush { cpu_invlpg(UInt($0)) }
            }
            index += 1
        }
        record.append(UInt64(KernelAddressSpace.pagemap.tablesCreated - created))
        record.append(UInt64(KernelAddressSpace.pagemap.tablesFreed - freed))
        record.append(sum)
        return ReplyStatus.ok
    }
}
