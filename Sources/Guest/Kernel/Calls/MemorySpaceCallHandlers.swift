// The kernel's side of the calls to its test memory space: one 512 GiB
// region at `testSpaceBase` in the kernel's address space.

enum TestSpace {
    static var space = MemorySpace(base: testSpaceBase, limit: testSpaceBase + MemorySpace.regionSize)
}

extension ReserveSpace {
    public func perform() throws(CallError) -> UInt64 {
        do throws(MemorySpaceError) {
            return try TestSpace.space.reserve(
                pages: pages, backing: backing, flags: flags, pagemap: &KernelAddressSpace.pagemap, frames: &PhysicalMemory.frames,
                zero: { frame in KernelLayout.directMap(frame.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize)) }, invalidate: { TLB.invalidate($0, at: .reserveSpaceCall) })
        } catch {
            throw .memorySpace(error)
        }
    }
}

extension FreeSpace {
    public func perform() throws(CallError) -> UInt64 {
        let before = PhysicalMemory.frames.freeFrames
        if let reservation = TestSpace.space.reservation(containing: start), reservation.start == start {
            try CallMappings.checkUnmapped(pagesFrom: start, count: reservation.pageCount)
        }
        do throws(MemorySpaceError) {
            try TestSpace.space.free(start, pagemap: &KernelAddressSpace.pagemap, frames: &PhysicalMemory.frames,
                                     invalidate: { TLB.invalidate($0, at: .freeSpaceCall) })
        } catch {
            throw .memorySpace(error)
        }
        return PhysicalMemory.frames.freeFrames - before
    }
}

extension QuerySpace {
    public func perform() throws(CallError) -> Reply {
        let found = TestSpace.space.reservation(containing: address)
        return Reply(reservation: found.map { Found(start: $0.start, pageCount: $0.pageCount, backing: $0.backing) },
                     highWaterMark: TestSpace.space.highWaterMark, fallbackCount: UInt64(TestSpace.space.fallbackCount))
    }
}
