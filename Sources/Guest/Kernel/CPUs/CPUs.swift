// The kernel's CPUs: the boot CPU, and the application processors the ACPI
// tables list, started as hardware starts them: INIT and two start-up IPIs
// through the local APIC, real mode in a trampoline below 1 MiB
// (Assembly/ap-trampoline.S), then long mode on the kernel's tables. Each
// CPU has an area of its own (struct cpu_local, through GS): its GDT and
// TSS, its stacks, its trap nesting. A started CPU checks in by setting
// its area's `online`, then waits in its idle loop for work.

enum CPUs {
    /// The CPUs the firmware listed; `start` keeps it.
    private(set) static var table = ProcessorTable()
    /// CPUs online: the boot CPU, and each that checked in.
    private(set) static var count = 1
    /// The address space the other CPUs idle in: the kernel region alone
    /// (the kernel's PML4 entry for it, so its tables are shared), so that
    /// no change below it needs to reach an idle CPU.
    private(set) static var idleRoot: UInt64 = 0

    /// Pages of an application processor's stacks: the kernel stack, then
    /// IST1 (exceptions), IST2 (double fault), IST3 (NMI, machine check),
    /// as large as the boot CPU's (Assembly/cpu-tables.S).
    private static let kernelStackPages: UInt64 = 16
    private static let istPages: (UInt64, UInt64, UInt64) = (4, 2, 2)
    static let stackPages = kernelStackPages + istPages.0 + istPages.1 + istPages.2
    /// How long a started CPU has to check in: about 4 s at this
    /// machine's 2.5 GHz TSC, where real mode runs in KVM's emulator.
    private static let checkInCycles: UInt64 = 10_000_000_000

    static func area(_ index: Int) -> UnsafeMutablePointer<cpu_local> { cpu_local_area(UInt(index))! }

    /// The area of the CPU that runs this.
    static var current: UnsafeMutablePointer<cpu_local> { cpu_local_current()! }

    /// The boot CPU moves to a GDT and TSS of its own, on the stacks it booted on.
    static func startBootCPU(_ table: ProcessorTable) {
        self.table = table
        let layout = cpu_start_layout_get()!.pointee
        prepare(0, stackTop: UInt64(layout.boot_stack_top),
                ist: (UInt64(layout.boot_ist1_top), UInt64(layout.boot_ist2_top), UInt64(layout.boot_ist3_top)))
        cpu_local_load(area(0))
        cpu_atomic_store(&area(0).pointee.online, 1)
    }

    /// Starts every other CPU the table lists, one at a time, each checked
    /// in before the next; a CPU that does not check in is a panic naming it.
    static func startApplicationProcessors() {
        let startable = min(table.count, PhysicalMemory.startableCPUs)
        guard startable > 1 else { return }
        // The legacy PIC masked: a process's threads run with interrupts on,
        // and its timer would arrive at SeaBIOS's vector 8, the #DF gate.
        // (KVM's in-kernel PIC answers these ports only with several CPUs.)
        cpu_out8(0x21, 0xFF)
        cpu_out8(0xA1, 0xFF)
        LocalAPIC.enable()
        let layout = cpu_start_layout_get()!.pointee
        let trampolineBytes = Int(layout.trampoline_end - layout.trampoline_start)
        guard trampolineBytes <= Int(AP_START_PHYSICAL - AP_TRAMPOLINE_PHYSICAL) else {
            kernelPanic("the CPU start-up trampoline runs into its parameters", UInt64(trampolineBytes))
        }
        KernelLayout.directMap(UInt64(AP_TRAMPOLINE_PHYSICAL))
            .copyMemory(from: UnsafeRawPointer(bitPattern: layout.trampoline_start)!, byteCount: trampolineBytes)
        let tables = trampolineTables(identityPDPT: UInt64(layout.identity_pdpt_physical))
        idleRoot = kernelRegionOnly().address
        for index in 1..<startable { start(index, tables: tables, entry: UInt64(layout.entry)) }
        // Zeroed first: a page table's entries are not left in a free frame.
        KernelLayout.directMap(tables.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize))
        PhysicalMemory.free(tables)
    }

    /// A PML4 for the switch to long mode: the trampoline's first GiB
    /// identity-mapped (the bootstrap tables' PDPT), and the kernel region.
    /// Below 4 GiB: the trampoline loads it in 32-bit mode.
    private static func trampolineTables(identityPDPT: UInt64) -> Frame {
        let frame = PhysicalMemory.requireFrame(for: "the CPU start-up tables")
        guard frame.address < 1 << 32 else { kernelPanic("the CPU start-up tables lie above 4 GiB", frame.address) }
        let entries = KernelLayout.directMap(frame.address).assumingMemoryBound(to: UInt64.self)
        for slot in 0..<512 { entries[slot] = 0 }
        let kernel = KernelLayout.directMap(KernelAddressSpace.pagemap.root.address).assumingMemoryBound(to: UInt64.self)
        entries[0] = identityPDPT | UInt64(PAGE_PRESENT_WRITABLE)
        entries[KernelAddressSpace.kernelSlot] = kernel[KernelAddressSpace.kernelSlot]
        return frame
    }

    /// A PML4 with the kernel region's entry alone, in the last frame of
    /// the reservation PhysicalMemory made for the other CPUs.
    private static func kernelRegionOnly() -> Frame {
        let frame = Frame(number: PhysicalMemory.cpuStacks.end - 1)
        let entries = KernelLayout.directMap(frame.address).assumingMemoryBound(to: UInt64.self)
        for slot in 0..<512 { entries[slot] = 0 }
        let kernel = KernelLayout.directMap(KernelAddressSpace.pagemap.root.address).assumingMemoryBound(to: UInt64.self)
        entries[KernelAddressSpace.kernelSlot] = kernel[KernelAddressSpace.kernelSlot]
        return frame
    }

    /// Where application processor `index`'s stacks lie (through the direct
    /// map): its part of the stacks PhysicalMemory set aside.
    static func stacks(_ index: Int) -> Range<UInt64> {
        let stacks = Frame(number: PhysicalMemory.cpuStacks.start + UInt64(index - 1) * stackPages)
        let base = UInt64(UInt(bitPattern: KernelLayout.directMap(stacks.address)))
        return base..<base + stackPages * frameSize
    }

    private static func start(_ index: Int, tables: Frame, entry: UInt64) {
        let base = stacks(index).lowerBound
        let stackTop = base + kernelStackPages * frameSize
        let ist1 = stackTop + istPages.0 * frameSize
        let ist2 = ist1 + istPages.1 * frameSize
        prepare(index, stackTop: stackTop, ist: (ist1, ist2, ist2 + istPages.2 * frameSize))
        let parameters = KernelLayout.directMap(UInt64(AP_START_PHYSICAL)).assumingMemoryBound(to: ap_start.self)
        parameters.pointee = ap_start(
            trampoline_cr3: UInt(tables.address), efer: cpu_read_msr(UInt32(EFER_MSR)) & UInt(EFER_LME | EFER_NXE), entry: UInt(entry),
            kernel_cr3: UInt(idleRoot), cr4: cpu_read_cr4(), stack_top: UInt(stackTop), area: UInt(bitPattern: area(index)))
        let apicID = table.apicID(index)
        LocalAPIC.start(apicID, trampolinePage: UInt64(AP_TRAMPOLINE_PHYSICAL) >> frameShift)
        let started = cpu_rdtsc()
        while cpu_atomic_load(&area(index).pointee.online) == 0 {
            guard UInt64(cpu_rdtsc() &- started) < checkInCycles else {
                kernelPanic("a CPU did not check in after INIT-SIPI-SIPI (APIC ID)", apicID)
            }
            cpu_pause()
        }
        count += 1
    }

    /// Fills CPU `index`'s area: its number and APIC ID, its GDT (the
    /// kernel's, with a TSS descriptor for its own TSS) and its TSS (the
    /// stack for entries from ring 3, and the IST stacks the IDT's gates name).
    private static func prepare(_ index: Int, stackTop: UInt64, ist: (UInt64, UInt64, UInt64)) {
        let area = area(index)
        area.pointee.area = area
        area.pointee.index = UInt(index)
        area.pointee.apic_id = UInt(table.apicID(index))
        area.pointee.trap_depth = 0
        area.pointee.user_return_rsp = 0
        area.pointee.online = 0
        area.pointee.loaded_root = 0
        area.pointee.shootdown_pending = 0
        area.pointee.work = CPUWork.none.rawValue
        area.pointee.work_state = CPUWorkState.idle.rawValue
        let tss = UnsafeMutableRawPointer(area) + MemoryLayout<cpu_local>.offset(of: \.tss)!
        tss.initializeMemory(as: UInt8.self, repeating: 0, count: 104)
        tss.storeBytes(of: stackTop, toByteOffset: 4, as: UInt64.self)          // RSP0
        tss.storeBytes(of: ist.0, toByteOffset: 36, as: UInt64.self)           // IST1
        tss.storeBytes(of: ist.1, toByteOffset: 44, as: UInt64.self)           // IST2
        tss.storeBytes(of: ist.2, toByteOffset: 52, as: UInt64.self)           // IST3
        tss.storeBytes(of: UInt16(104), toByteOffset: 102, as: UInt16.self)    // no I/O permission bitmap
        let gdt = (UnsafeMutableRawPointer(area) + MemoryLayout<cpu_local>.offset(of: \.gdt)!).assumingMemoryBound(to: UInt64.self)
        let template = UnsafePointer<UInt64>(bitPattern: cpu_start_layout_get()!.pointee.gdt_template)!
        for slot in 0..<7 { gdt[slot] = template[slot] }
        // The 16-byte TSS descriptor: limit, base split across both words, type 0x89 (present, available).
        let base = UInt64(UInt(bitPattern: tss))
        let slot = Int(TSS_SELECTOR) / 8
        gdt[slot] = 103 | (base & 0xFF_FFFF) << 16 | 0x89 << 40 | (base >> 24 & 0xFF) << 56
        gdt[slot + 1] = base >> 32
    }
}

/// An application processor's first Swift, on its own stacks and tables
/// (Assembly/ap-trampoline.S): it checks in, then idles until woken.
@_cdecl("kernel_ap_main")
func kernelAPMain(_ area: UnsafeMutablePointer<cpu_local>) {
    LocalAPIC.enable()
    cpu_atomic_store(&area.pointee.loaded_root, UInt(CPUs.idleRoot))
    cpu_atomic_store(&area.pointee.online, 1)
    CPUs.idle(area)
}
