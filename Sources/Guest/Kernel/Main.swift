// kmain: Assembly/pvh-entry.S calls it in long mode, on the kernel stack, at the kernel's
// link address, with the physical address of PVH's hvm_start_info.

@_cdecl("kmain")
func kmain(_ startInfoPhysical: UInt) {
    ReportChannel.start()
    Console.write("guest kernel: long mode, kernel region at 0x00007fff80000000\n")
    guard let boot = BootInfo(startInfoPhysical: UInt64(startInfoPhysical)) else {
        kernelPanic("no PVH start info (hvm_start_info version 1)", UInt64(startInfoPhysical))
    }
    PhysicalMemory.start(boot: boot)
    KernelAddressSpace.build()
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
    ReportChannel.send(kind: RecordKind.ready) { record in
        record.append(UInt64(layout.image_physical_start))
        record.append(UInt64(layout.image_physical_end))
        record.append(UInt64(layout.virtual_base))
        record.append(UInt64(layout.direct_map_base))
        record.append(UInt64(layout.heap_start))
        record.append(UInt64(layout.heap_end))
        record.append(boot.startInfoPhysical)
        record.append(KernelAddressSpace.pagemap.root.address)
        record.append(UInt64(PhysicalMemory.frames.droppedRanges))
        let count = min(boot.memoryMapCount, ReadyWord.maximumMemoryMapEntries)
        record.append(UInt64(count))
        for index in 0..<count {
            let entry = boot.memoryMapEntry(index)
            record.append(entry.base)
            record.append(entry.length)
            record.append(UInt64(entry.type))
        }
    }
}
