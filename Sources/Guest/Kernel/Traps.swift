// The exception path. Assembly/pvh-entry.S gives all 32 vectors a gate on its own IST stack
// and calls here with the saved registers. The only exception handled is a
// page fault an armed access probe expects; every other one is reported to
// the host with vector, error code, RIP and CR2, so that no failure ends as
// a silent triple fault.

@_cdecl("kernel_trap")
func kernelTrap(_ frame: UnsafeMutablePointer<trap_frame>) {
    let cr2 = UInt64(cpu_read_cr2())
    if frame.pointee.vector == 14 && AccessProbe.recover(frame, faultAddress: cr2) { return }
    if frame.pointee.cs & 3 == 3 {
        UserTraps.handle(frame, cr2: cr2)
        return
    }
    let trap = frame.pointee
    Console.write("kernel: exception ")
    Console.writeDecimal(UInt64(trap.vector))
    Console.write(" at rip ")
    Console.writeHex(UInt64(trap.rip))
    Console.write(" error ")
    Console.writeHex(UInt64(trap.error_code))
    Console.write(" cr2 ")
    Console.writeHex(cr2)
    Console.write("\n")
    ReportChannel.send(kind: RecordKind.exception) { record in
        record.append(UInt64(trap.vector))
        record.append(UInt64(trap.error_code))
        record.append(UInt64(trap.rip))
        record.append(UInt64(trap.cs))
        record.append(UInt64(trap.rflags))
        record.append(UInt64(trap.rsp))
        record.append(UInt64(trap.ss))
        record.append(UInt64(cpu_read_cr0()))
        record.append(cr2)
        record.append(UInt64(cpu_read_cr3()))
        record.append(UInt64(cpu_read_cr4()))
        record.append(UInt64(cpu_read_msr(0xC000_0080)))
        // The faulting context's registers (ExceptionWord.registersStart),
        // not the handler's; one by one, since an array would need the heap.
        record.append(UInt64(trap.rax)); record.append(UInt64(trap.rbx)); record.append(UInt64(trap.rcx))
        record.append(UInt64(trap.rdx)); record.append(UInt64(trap.rsi)); record.append(UInt64(trap.rdi))
        record.append(UInt64(trap.rbp)); record.append(UInt64(trap.r8)); record.append(UInt64(trap.r9))
        record.append(UInt64(trap.r10)); record.append(UInt64(trap.r11)); record.append(UInt64(trap.r12))
        record.append(UInt64(trap.r13)); record.append(UInt64(trap.r14)); record.append(UInt64(trap.r15))
        // The kernel's own walk of the faulting address, beside the host's.
        if trap.vector == 14, let address = VirtualAddress(cr2) {
            let tables = Pagemap(root: Frame(containing: UInt64(cpu_read_cr3())), directMap: KernelLayout.current.direct_map_base)
            let entries = tables.entries(on: address)
            record.append(UInt64(entries.count))
            for entry in entries { record.append(entry.raw) }
        }
    }
    exitGuest(ExitStatus.exception)
}
