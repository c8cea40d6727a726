// kmain: Assembly/pvh-entry.S calls it in long mode, on the kernel stack, at the kernel's
// link address, with the physical address of PVH's hvm_start_info.

@_cdecl("kmain")
func kmain(_ startInfoPhysical: UInt) {
    ReportChannel.start()
    // The layout the kernel was linked with, not a string about it.
    Console.write("guest kernel: long mode, kernel region at ")
    Console.writeHex(UInt64(kernel_layout_get()!.pointee.virtual_base))
    Console.write("\n")
    guard let boot = BootInfo(startInfoPhysical: UInt64(startInfoPhysical)) else {
        kernelPanic("no PVH start info (hvm_start_info version 1)", UInt64(startInfoPhysical))
    }
    // The ACPI tables first: the bootstrap tables' direct map reaches them.
    CPUs.startBootCPU(ProcessorTable(boot: boot))
    CPUModes.start()
    let physicalMemoryStart = cpu_rdtsc()
    PhysicalMemory.start(boot: boot, cpuCount: CPUs.table.count)
    let addressSpaceStart = cpu_rdtsc()
    TLBChecker.prepare()
    KernelAddressSpace.build(boot: boot)
    TLBChecker.start()
    HostCheckTable.start()
    let built = cpu_rdtsc()
    CPUs.startApplicationProcessors()
    sendReady(boot, cycles: BootCycles(total: UInt64(cpu_rdtsc() &- kernel_boot_tsc),
                                       physicalMemory: UInt64(addressSpaceStart &- physicalMemoryStart),
                                       addressSpace: UInt64(built &- addressSpaceStart)))
    Console.write("guest kernel: ready\n")
    if ReportChannel.hostAnswers {
        CallDispatcher.run()
    }
    exitGuest(ExitStatus.success)
}

/// The ready report: where the kernel is, and the memory map it was given.
private func sendReady(_ boot: BootInfo, cycles: BootCycles) {
    let layout = KernelLayout.current
    let ready = ReadyRecord(
        kernelPhysicalStart: UInt64(layout.image_physical_start), kernelPhysicalEnd: UInt64(layout.image_physical_end),
        kernelVirtualBase: UInt64(layout.virtual_base), directMapBase: UInt64(layout.direct_map_base),
        heapStart: UInt64(layout.heap_start), heapEnd: UInt64(layout.heap_end),
        startInfoPhysical: boot.startInfoPhysical, pageTableRoot: KernelAddressSpace.pagemap.root.address,
        droppedMemoryRanges: UInt64(PhysicalMemory.frames.droppedRanges),
        pageTableCheckTable: HostCheckTable.physical, cpuCount: UInt64(CPUs.count), bootCycles: cycles, memoryMap: boot.memoryMap)
    ReportChannel.send(kind: RecordKind.ready) { record in record.encode(ready) }
}
