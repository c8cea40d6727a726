// The exception path. Assembly/pvh-entry.S gives all 32 vectors a gate on its own IST stack
// and calls here with the saved registers. The only exception handled is a
// page fault an armed access probe expects; every other one is reported to
// the host with vector, error code, RIP and CR2, so that no failure ends as
// a silent triple fault.

@_cdecl("kernel_trap")
func kernelTrap(_ frame: UnsafeMutablePointer<trap_frame>) {
    if frame.pointee.vector == UInt(SHOOTDOWN_VECTOR) { return TLBShootdown.receive() }
    if frame.pointee.vector == UInt(PROCESS_VECTOR) { return UserTraps.processInterrupt(frame) }
    let cr2 = UInt64(cpu_read_cr2())
    if frame.pointee.vector == 14 && (AccessProbe.recover(frame, faultAddress: cr2) || RemoteReader.recover(frame, faultAddress: cr2)) { return }
    if frame.pointee.cs & 3 == 3 {
        UserTraps.handle(frame, cr2: cr2)
        TLBChecker.check(.returnToUser)
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
    // The faulting context's registers, not the handler's.
    let registers = GeneralRegisters(
        rax: UInt64(trap.rax), rbx: UInt64(trap.rbx), rcx: UInt64(trap.rcx), rdx: UInt64(trap.rdx),
        rsi: UInt64(trap.rsi), rdi: UInt64(trap.rdi), rbp: UInt64(trap.rbp), r8: UInt64(trap.r8), r9: UInt64(trap.r9),
        r10: UInt64(trap.r10), r11: UInt64(trap.r11), r12: UInt64(trap.r12), r13: UInt64(trap.r13),
        r14: UInt64(trap.r14), r15: UInt64(trap.r15))
    // The kernel's own walk of the faulting address, beside the host's.
    var walk = PageWalkEntries()
    if trap.vector == 14, let address = VirtualAddress(cr2) {
        let tables = Pagemap(root: Frame(containing: UInt64(cpu_read_cr3())), directMap: KernelLayout.current.direct_map_base)
        tables.forEachEntry(on: address) { walk.append($0.raw) }
    }
    let exception = ExceptionRecord(
        vector: UInt64(trap.vector), errorCode: UInt64(trap.error_code), rip: UInt64(trap.rip), cs: UInt64(trap.cs),
        rflags: UInt64(trap.rflags), rsp: UInt64(trap.rsp), ss: UInt64(trap.ss),
        cr0: UInt64(cpu_read_cr0()), cr2: cr2, cr3: UInt64(cpu_read_cr3()), cr4: UInt64(cpu_read_cr4()),
        efer: UInt64(cpu_read_msr(0xC000_0080)), registers: registers, guestWalk: walk, cpu: UInt64(CPUs.current.pointee.index))
    ReportChannel.send(kind: RecordKind.exception) { record in record.encode(exception) }
    exitGuest(ExitStatus.exception)
}
