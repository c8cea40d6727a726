// The machine's facts, defined once: where the kernel region is, its
// segment selectors, the paging and control bits the entry sets, the ports
// and statuses the kernel and the host agree on, the sizes the assembly and
// the Swift share. Every side includes this one file: the assembly, the
// linker script (guest.lds.S, preprocessed), the kernel's Swift (through
// cpu.h) and the host's Swift (module MachineFacts, under GuestProtocol).
// Plain literals only: the assembler and the linker read them too. The
// kernel region lies below 2^47: Embedded Swift keeps flags in pointer bits 56-63.
#ifndef GUEST_MACHINE_H
#define GUEST_MACHINE_H

#define KERNEL_VIRTUAL_BASE 0x00007FFF80000000
#define DIRECT_MAP_BASE     0x00007F8000000000
// Page-table entry bits (PageTableFlags, PageTableEntry). The host's own
// page walker (KVMHost/Inspect) spells its bits itself on purpose: it is an
// independent oracle of what the kernel wrote, not a second reader of this file.
#define PAGE_PRESENT   0x1
#define PAGE_WRITABLE  0x2
#define PAGE_USER      0x4
#define PAGE_HUGE      0x80             // a 2 MiB page in a PD entry, 1 GiB in a PDPT entry
#define PAGE_ADDRESS_MASK 0x000FFFFFFFFFF000
#define PAGE_PRESENT_WRITABLE (PAGE_PRESENT | PAGE_WRITABLE)
#define PAGE_HUGE_2M          (PAGE_PRESENT | PAGE_WRITABLE | PAGE_HUGE)

// Page-fault error code bits (PageFaultError).
#define PF_PROTECTION   0x1
#define PF_WRITE        0x2
#define PF_USER         0x4
#define PF_RESERVED_BIT 0x8
#define PF_FETCH        0x10

// The bootstrap tables' direct map (pvh-entry.S), in GiB from physical 0:
// the frame bitmap must lie below it (PhysicalMemory.swift).
#define BOOTSTRAP_MAP_GIB 4
#define EFER_MSR   0xC0000080
#define EFER_LME   (1 << 8)
#define EFER_NXE   (1 << 11)
#define CR0_PE_WP_PG 0x80010001
#define CR4_PAE      0x20

#define KERNEL_CODE 0x08
#define KERNEL_DATA 0x10
#define TSS_SELECTOR 0x28

// The kernel image starts at 1 MiB, where PVH loads it.
#define KERNEL_PHYSICAL_START 0x100000

#define COM1      0x3F8                 // GuestPort.serial
#define EXIT_PORT 0xF4                  // GuestPort.exit
#define REPORT_PORT 0x1000              // GuestPort.report
#define CHANNEL_SIGNATURE 0x484D564B    // channelSignature
#define SERIAL_LINK 0x2F8               // GuestPort.serialLink
// A byte read here says the kernel waits for console input (KVMHost on
// KVM): the host answers once input is there. An exit of its own, where a
// `hlt` would not exit once the in-kernel LAPIC handles it (several CPUs).
#define INPUT_WAIT_PORT 0x1008          // GuestPort.inputWait

// Several CPUs: the most the kernel starts, the local APIC's registers
// (xAPIC, the architectural address), and the page below 1 MiB where an
// application processor starts in real mode (the SIPI's vector is its
// frame number).
#define MAXIMUM_CPUS 8
// The lock validator's zeroed tables (Assembly/cpu-tables.S): an order
// table of 16 x 16 classes, and per CPU 8 held locks (class, site) and the
// held count and interrupt flag, all 8-byte words.
#define LOCK_VALIDATOR_CLASSES 16
#define LOCK_VALIDATOR_DEPTH 8
#define LOCK_VALIDATOR_STORAGE_BYTES (8 * (LOCK_VALIDATOR_CLASSES * LOCK_VALIDATOR_CLASSES + MAXIMUM_CPUS * (2 * LOCK_VALIDATOR_DEPTH + 2)))
#define LOCAL_APIC_PHYSICAL 0xFEE00000
#define AP_TRAMPOLINE_PHYSICAL 0x8000
// The start-up parameters (struct ap_start) at the end of the trampoline's page.
#define AP_START_PHYSICAL 0x8F00
// The interrupt vectors one CPU sends another: a wake from the idle loop,
// and a TLB shootdown (Kernel/CPUs/TLBShootdown.swift).
#define WAKE_VECTOR 0xF0
#define SHOOTDOWN_VECTOR 0xF1
// ... and a process's other threads, when one of them was killed (Process.swift).
#define PROCESS_VECTOR 0xF2
#define GS_BASE_MSR 0xC0000101

// Written by assembly, where Swift's enums cannot be: KernelExit's and
// LinkFrame's raw values, which MachineFactsTests holds equal to these.
#define EXIT_NESTED_EXCEPTION 5         // KernelExit.nestedException
#define EXIT_MISSING_CPU_FEATURE 6      // KernelExit.missingCPUFeature
#define LINK_FRAME_EXIT 0x58            // LinkFrame.exit

// The demand-paging fast path's cache of known-zero frames (fast-fault.S,
// struct fast_fault_state, FastFaults.swift): one aligned run.
#define FAST_FAULT_CACHE_CAPACITY 64

#endif
