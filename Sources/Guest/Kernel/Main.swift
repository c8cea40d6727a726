// kmain: Assembly/pvh-entry.S calls it in long mode, on the kernel stack, at the kernel's
// link address, with the physical address of PVH's hvm_start_info.

@_cdecl("kmain")
func kmain(_ startInfoPhysical: UInt) {
    ReportChannel.start()
    Console.write("guest kernel: long mode, kernel region at 0x00007fff80000000\n")
    guard let boot = BootInfo(startInfoPhysical: UInt64(startInfoPhysical)) else {
        kernelPanic("no PVH start info (hvm_start_info version 1)", UInt64(startInfoPhysical))
    }
    CPUModes.start()
    PhysicalMemory.start(boot: boot)
    KernelAddressSpace.build(boot: boot)
    sendReady(boot)
    Console.write("guest kernel: ready\n")
    if ReportChannel.hostAnswers {
        CallDispatcher.run()
    }
    exitGuest(ExitStatus.success)
}

/// The ready report: where the kernel is, and the memory map it was given.
private func sendReady(_ boot: BootInfo) {
    let layout = KernelLayout.current
    let ready = ReadyRecord(
        kernelPhysicalStart: UInt64(layout.image_physical_start), kernelPhysicalEnd: UInt64(layout.image_physical_end),
        kernelVirtualBase: UInt64(layout.virtual_base), directMapBase: UInt64(layout.direct_map_base),
        heapStart: UInt64(layout.heap_start), heapEnd: UInt64(layout.heap_end),
        startInfoPhysical: boot.startInfoPhysical, pageTableRoot: KernelAddressSpace.pagemap.root.address,
        droppedMemoryRanges: UInt64(PhysicalMemory.frames.droppedRanges), memoryMap: boot.memoryMap)
    ReportChannel.send(kind: RecordKind.ready) { record in record.encode(ready) }
}
