// The Pagemap alone, timed by the host (`RunPagemapBenchmark`, kvmbench):
// measurement code, compiled into the kernel on purpose and kept here.

extension RunPagemapBenchmark {
    /// Maps, translates or unmaps `count` pages at `benchmarkBase`, all onto one frame.
    public func perform() throws(CallError) -> Reply {
        let created = KernelAddressSpace.pagemap.tablesCreated
        let freed = KernelAddressSpace.pagemap.tablesFreed
        let frame = Frame(containing: KernelLayout.physical(ofImage: UnsafeRawPointer(kernel_layout_get()!)))
        var sum: UInt64 = 0
        for index in 0..<count {
            let address = benchmarkBase + index * pageSize
            switch phase {
            case .map:
                do throws(MapError) {
                    // A new page under tables made for these very flags: nothing
                    // cached to invalidate (the TLB checker would fail the call if there were).
                    try KernelAddressSpace.pagemap.map(Page(startingAt: address)!, to: frame, flags: [.noExecute],
                                                       frames: &PhysicalMemory.frames).ignore()
                } catch {
                    throw .map(error)
                }
            case .translate:
                sum &+= KernelAddressSpace.pagemap.translate(VirtualAddress(address)!)?.physical ?? 0
            case .unmap:
                do throws(UnmapError) {
                    try KernelAddressSpace.pagemap.unmap(Page(startingAt: address)!, frames: &PhysicalMemory.frames)
                        .flush { TLB.invalidate($0, at: .pagemapBenchmarkUnmap) }
                } catch {
                    throw .unmap(error)
                }
            }
        }
        return Reply(tablesCreated: UInt64(KernelAddressSpace.pagemap.tablesCreated - created),
                     tablesFreed: UInt64(KernelAddressSpace.pagemap.tablesFreed - freed), checksum: sum)
    }
}
