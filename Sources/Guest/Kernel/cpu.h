// The guest kernel's view of the CPU: port I/O, control registers, MSRs and
// the layout the linker and Assembly/ provide. Everything here is inline assembly
// or a declaration, so Swift calls it with no call overhead.
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include "machine.h"

static inline void cpu_out8(unsigned short port, unsigned char value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void cpu_out32(unsigned short port, unsigned int value) {
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline unsigned char cpu_in8(unsigned short port) {
    unsigned char value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline unsigned int cpu_in32(unsigned short port) {
    unsigned int value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

// One `rep outsb`: KVM hands the whole string to the host in a single exit.
static inline void cpu_out_string8(unsigned short port, const void *bytes, unsigned long count) {
    __asm__ volatile("rep outsb" : "+S"(bytes), "+c"(count) : "d"(port) : "memory");
}

static inline unsigned long cpu_read_cr0(void) { unsigned long v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline unsigned long cpu_read_cr2(void) { unsigned long v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline unsigned long cpu_read_cr3(void) { unsigned long v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline unsigned long cpu_read_cr4(void) { unsigned long v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }

static inline void cpu_write_cr0(unsigned long v) { __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static inline void cpu_write_cr3(unsigned long v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void cpu_invlpg(unsigned long address) { __asm__ volatile("invlpg (%0)" : : "r"(address) : "memory"); }
// The frame pointer of the function this is inlined into: where the TLB checker starts a backtrace.
static inline unsigned long cpu_read_rbp(void) { unsigned long v; __asm__ volatile("mov %%rbp, %0" : "=r"(v)); return v; }

static inline unsigned long cpu_read_msr(unsigned int msr) {
    unsigned int low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((unsigned long)high << 32) | low;
}

// CPUID leaf `leaf`, subleaf `subleaf`: registers[0..3] = EAX, EBX, ECX, EDX.
static inline void cpu_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int registers[4]) {
    __asm__ volatile("cpuid" : "=a"(registers[0]), "=b"(registers[1]), "=c"(registers[2]), "=d"(registers[3])
                     : "a"(leaf), "c"(subleaf));
}

static inline void cpu_write_cr4(unsigned long v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
// EFLAGS.AC through pushf/popf, which every x86-64 CPU has (stac and clac
// are #UD without SMAP): under CR4.SMAP it lets ring 0 reach user pages.
static inline void cpu_set_alignment_check(int on) {
    unsigned long flags;
    __asm__ volatile("pushfq; pop %0" : "=r"(flags));
    flags = on ? flags | (1ul << 18) : flags & ~(1ul << 18);
    __asm__ volatile("push %0; popfq" : : "r"(flags) : "memory", "cc");
}

// One halt: under KVMHost the host resumes the vCPU when it has input for it.
static inline void cpu_halt_once(void) { __asm__ volatile("hlt" : : : "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause"); }

static inline void cpu_halt_forever(void) {
    for (;;) __asm__ volatile("cli; hlt");
}

// Raise the CPU exceptions the host may ask for, each from a known place.
static inline void cpu_raise_divide_error(void) { __asm__ volatile("xor %%ecx, %%ecx; div %%ecx" : : : "eax", "ecx", "edx"); }
static inline void cpu_raise_breakpoint(void) { __asm__ volatile("int3"); }
static inline void cpu_raise_invalid_opcode(void) { __asm__ volatile("ud2"); }
static inline void cpu_raise_general_protection(void) { __asm__ volatile("movw $0x63, %%ax; movw %%ax, %%ds" : : : "eax"); }
static inline unsigned char cpu_read_byte(unsigned long address) {
    unsigned char v;
    __asm__ volatile("movb (%1), %0" : "=r"(v) : "r"(address) : "memory");
    return v;
}
static inline void cpu_spin_forever(void) { for (;;) __asm__ volatile("pause"); }

// What Assembly/kernel-layout.S and guest.lds.S tell the kernel about itself (all addresses virtual
// unless the name says physical).
struct kernel_layout {
    unsigned long image_physical_start;
    unsigned long image_physical_end;
    unsigned long virtual_base;      // virtual = physical + virtual_base inside the image
    unsigned long direct_map_base;   // virtual = physical + direct_map_base for all RAM
    unsigned long heap_start;
    unsigned long heap_end;
    unsigned long boot_tables_physical_start;   // the bootstrap page tables
    unsigned long boot_tables_physical_end;
    unsigned long text_start, text_end;         // virtual, page-aligned sections
    unsigned long rodata_start, rodata_end;
    unsigned long data_start, data_end;         // .data and .bss
};
const struct kernel_layout *kernel_layout_get(void);

// Access probes (Assembly/probes.S): each returns 0, or 1 when the access faulted.
unsigned long probe_read(unsigned long address);
unsigned long probe_write(unsigned long address);
unsigned long probe_fetch(unsigned long address);
struct probe_layout {
    unsigned long read_access;      // the faulting instruction of probe_read
    unsigned long write_access;     // ... of probe_write
    unsigned long resume;           // where a faulted probe continues
};
const struct probe_layout *probe_layout_get(void);

// Ring 3 (Assembly/user-mode.S): user_enter runs a process until a trap taken from it calls
// user_leave(value); user_enter then returns that value. RDI and RSI start as given, RFLAGS too.
unsigned long user_enter(unsigned long rip, unsigned long rsp, unsigned long rdi, unsigned long rsi, unsigned long rflags);
__attribute__((noreturn)) void user_leave(unsigned long value);

// The user programs embedded in the kernel (generated by build-guest.sh):
// a count, then per program its name, name length, ELF image, image size.
const unsigned long *program_table_get(void);

// The TSC at the first long-mode instruction of the boot (Assembly/pvh-entry.S).
extern unsigned long kernel_boot_tsc;

static inline unsigned long cpu_rdtsc(void) {
    unsigned int low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((unsigned long)high << 32) | low;
}

// The demand-paging fast path's state (Assembly/fast-fault.S): the range it serves, the
// page-table flags it maps with, how many faults it resolved, and its cache
// of known-zero frames (physical addresses).
struct fast_fault_state {
    unsigned long start, end, flags, count, cache_count;
    unsigned long root;             // the process's PML4, physical
    unsigned long cache[FAST_FAULT_CACHE_CAPACITY];
};
struct fast_fault_state *fast_fault_state_get(void);

// ---- several CPUs ---------------------------------------------------------

// A CPU's own state, reached through GS (GS_BASE holds its address; `area`
// is its first word, so `mov %gs:0` finds it). Assembly/cpu-tables.S lays
// out MAXIMUM_CPUS of them, 256 bytes each; CPUs.swift fills one before
// its CPU loads it (cpu_local_load). trap-stubs.S and user-mode.S use
// trap_depth and user_return_rsp, through asm-offsets.h.
struct cpu_local {
    struct cpu_local *area;          // its own address
    unsigned long index;             // 0 for the boot CPU, then in MADT order
    unsigned long apic_id;
    unsigned long trap_depth;        // trap_common's nesting: 2 is a nested exception
    unsigned long user_return_rsp;   // user_enter's stack, for user_leave
    unsigned long online;            // 1 once the CPU runs kernel code of its own
    unsigned long gdt[7];            // the kernel GDT's entries, its own TSS descriptor among them
    unsigned int tss[26];            // its 64-bit TSS (104 bytes): stacks for entries and IST
    unsigned long loaded_root;       // the PML4 in its CR3 (physical): whom a shootdown concerns
    unsigned long shootdown_pending; // 1 from a shootdown's request until this CPU has flushed
    unsigned long work;              // CPUWork posted to it (0: none), taken by its idle loop
    unsigned long work_argument;
    unsigned long work_state;        // CPUWorkState
    unsigned long work_result;
};
struct cpu_local *cpu_local_area(unsigned long index);
// Loads `area`'s GDT and TSS, the shared IDT and GS_BASE on the calling CPU.
void cpu_local_load(struct cpu_local *area);
// The lock validator's zeroed tables (LOCK_VALIDATOR_STORAGE_BYTES, Assembly/cpu-tables.S).
extern unsigned long lock_validator_storage[];
static inline unsigned long *lock_validator_tables(void) { return lock_validator_storage; }

// The TLB shootdown in flight (Kernel/CPUs/TLBShootdown.swift): one at a time.
struct tlb_shootdown {
    unsigned long root;              // the PML4 (physical) whose translations go
    unsigned long start;             // the first page
    unsigned long count;             // pages from `start`; 0: every translation (a CR3 reload)
    unsigned long pending;           // CPUs yet to acknowledge
    unsigned long busy;              // 1 while a shootdown is in flight: the senders' lock
};

static inline struct cpu_local *cpu_local_current(void) {
    struct cpu_local *area;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(area));
    return area;
}

// What the boot CPU hands an application processor it starts, at
// AP_START_PHYSICAL: the trampoline reads the first three in 32-bit mode,
// ap_entry64 the rest before it leaves the trampoline's tables.
struct ap_start {
    unsigned long trampoline_cr3;    // identity-maps the trampoline, and the kernel region
    unsigned long efer;
    unsigned long entry;             // ap_entry64
    unsigned long kernel_cr3;
    unsigned long cr4;
    unsigned long stack_top;
    unsigned long area;              // its struct cpu_local
};
// What starting a CPU needs to know of the image (Assembly/ap-trampoline.S).
struct cpu_start_layout {
    unsigned long trampoline_start, trampoline_end;  // ap_trampoline, copied to AP_TRAMPOLINE_PHYSICAL
    unsigned long entry;                             // ap_entry64
    unsigned long identity_pdpt_physical;            // the bootstrap tables' identity map of the first GiB
    unsigned long gdt_template;                      // kernel_gdt: 7 entries every CPU's GDT starts as
    unsigned long boot_stack_top;                    // the boot CPU's stacks (Assembly/cpu-tables.S)
    unsigned long boot_ist1_top, boot_ist2_top, boot_ist3_top;
};
const struct cpu_start_layout *cpu_start_layout_get(void);

static inline void cpu_write_msr(unsigned int msr, unsigned long value) {
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((unsigned int)value), "d"((unsigned int)(value >> 32)) : "memory");
}

// The local APIC's registers: 32-bit accesses, never merged or dropped.
static inline unsigned int cpu_mmio_read32(unsigned long address) {
    unsigned int v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(address) : "memory");
    return v;
}
static inline void cpu_mmio_write32(unsigned long address, unsigned int value) {
    __asm__ volatile("movl %0, (%1)" : : "r"(value), "r"(address) : "memory");
}

// Shared words between CPUs: sequentially consistent, as the x86 `lock` prefix and plain stores give.
static inline unsigned long cpu_atomic_load(const volatile unsigned long *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }
static inline void cpu_atomic_store(volatile unsigned long *word, unsigned long value) { __atomic_store_n(word, value, __ATOMIC_SEQ_CST); }
static inline unsigned long cpu_atomic_fetch_add(volatile unsigned long *word, unsigned long value) {
    return __atomic_fetch_add(word, value, __ATOMIC_SEQ_CST);
}
static inline unsigned long cpu_atomic_fetch_sub(volatile unsigned long *word, unsigned long value) {
    return __atomic_fetch_sub(word, value, __ATOMIC_SEQ_CST);
}
// 1 when `*word` held `expected` and now holds `desired`.
static inline int cpu_atomic_compare_exchange(volatile unsigned long *word, unsigned long expected, unsigned long desired) {
    return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

// A ticket lock (Locks/SpinLock.swift): CPUs take it in the order they asked.
struct spin_lock {
    volatile unsigned long next;     // the next ticket handed out
    volatile unsigned long serving;  // the ticket that holds the lock
    volatile unsigned long holder;   // the holding CPU's index + 1; 0 when free
    unsigned long saved_flags;       // the holder's RFLAGS before it took the lock
};

// RFLAGS, then interrupts off: what a lock's holder puts back when it releases.
static inline unsigned long cpu_save_interrupts_and_disable(void) {
    unsigned long flags;
    __asm__ volatile("pushfq; pop %0; cli" : "=r"(flags) : : "memory");
    return flags;
}
static inline void cpu_restore_interrupts(unsigned long flags) {
    if (flags & (1ul << 9)) __asm__ volatile("sti" : : : "memory");
}
static inline int cpu_interrupts_enabled(void) {
    unsigned long flags;
    __asm__ volatile("pushfq; pop %0" : "=r"(flags));
    return (flags >> 9) & 1;
}

// Idle: interrupts on for exactly the halt (sti's one-instruction shadow
// keeps a wake that arrives before the hlt from being lost), then off again.
static inline void cpu_wait_for_interrupt(void) { __asm__ volatile("sti; hlt; cli" : : : "memory"); }
// Work on another CPU runs with interrupts on, so that a shootdown reaches it.
static inline void cpu_enable_interrupts(void) { __asm__ volatile("sti" : : : "memory"); }
static inline void cpu_disable_interrupts(void) { __asm__ volatile("cli" : : : "memory"); }

// The registers trap_common saves, in push order reversed: the frame as it
// lies on the stack, lowest address first.
struct trap_frame {
    unsigned long r15, r14, r13, r12, r11, r10, r9, r8;
    unsigned long rbp, rdi, rsi, rdx, rcx, rbx, rax;
    unsigned long vector, error_code;
    unsigned long rip, cs, rflags, rsp, ss;
};

#endif
