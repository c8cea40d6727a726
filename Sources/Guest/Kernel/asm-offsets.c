// The offsets of cpu.h's structures that the assembly lays out by hand,
// made by the compiler that lays out the structures (Linux's asm-offsets):
// build-guest.sh compiles this file to assembly and turns each "->NAME
// VALUE" string into `#define NAME VALUE` in asm-offsets.h, which
// kernel-layout.S and fast-fault.S check every field against while they
// assemble. A field added to a struct and not to its assembly, or in
// another order, fails the build.

#include <stddef.h>
#include "cpu.h"

// Each value lands in the compiler's assembly as `.ascii "->NAME VALUE"`.
#define OFFSET(name, type, field) __asm__ volatile("\n.ascii \"->" #name " %c0\"" : : "i"(offsetof(type, field)))
#define SIZE(name, type) __asm__ volatile("\n.ascii \"->" #name " %c0\"" : : "i"(sizeof(type)))

void asm_offsets(void) {
    OFFSET(KERNEL_LAYOUT_IMAGE_PHYSICAL_START, struct kernel_layout, image_physical_start);
    OFFSET(KERNEL_LAYOUT_IMAGE_PHYSICAL_END, struct kernel_layout, image_physical_end);
    OFFSET(KERNEL_LAYOUT_VIRTUAL_BASE, struct kernel_layout, virtual_base);
    OFFSET(KERNEL_LAYOUT_DIRECT_MAP_BASE, struct kernel_layout, direct_map_base);
    OFFSET(KERNEL_LAYOUT_HEAP_START, struct kernel_layout, heap_start);
    OFFSET(KERNEL_LAYOUT_HEAP_END, struct kernel_layout, heap_end);
    OFFSET(KERNEL_LAYOUT_BOOT_TABLES_PHYSICAL_START, struct kernel_layout, boot_tables_physical_start);
    OFFSET(KERNEL_LAYOUT_BOOT_TABLES_PHYSICAL_END, struct kernel_layout, boot_tables_physical_end);
    OFFSET(KERNEL_LAYOUT_TEXT_START, struct kernel_layout, text_start);
    OFFSET(KERNEL_LAYOUT_TEXT_END, struct kernel_layout, text_end);
    OFFSET(KERNEL_LAYOUT_RODATA_START, struct kernel_layout, rodata_start);
    OFFSET(KERNEL_LAYOUT_RODATA_END, struct kernel_layout, rodata_end);
    OFFSET(KERNEL_LAYOUT_DATA_START, struct kernel_layout, data_start);
    OFFSET(KERNEL_LAYOUT_DATA_END, struct kernel_layout, data_end);
    SIZE(KERNEL_LAYOUT_SIZE, struct kernel_layout);

    OFFSET(FAST_FAULT_START, struct fast_fault_state, start);
    OFFSET(FAST_FAULT_END, struct fast_fault_state, end);
    OFFSET(FAST_FAULT_FLAGS, struct fast_fault_state, flags);
    OFFSET(FAST_FAULT_COUNT, struct fast_fault_state, count);
    OFFSET(FAST_FAULT_CACHE_COUNT, struct fast_fault_state, cache_count);
    OFFSET(FAST_FAULT_ROOT, struct fast_fault_state, root);
    OFFSET(FAST_FAULT_CACHE, struct fast_fault_state, cache);
    SIZE(FAST_FAULT_STATE_SIZE, struct fast_fault_state);

    OFFSET(CPU_LOCAL_AREA, struct cpu_local, area);
    OFFSET(CPU_LOCAL_TRAP_DEPTH, struct cpu_local, trap_depth);
    OFFSET(CPU_LOCAL_USER_RETURN_RSP, struct cpu_local, user_return_rsp);
    OFFSET(CPU_LOCAL_GDT, struct cpu_local, gdt);
    SIZE(CPU_LOCAL_SIZE, struct cpu_local);

    OFFSET(AP_START_TRAMPOLINE_CR3, struct ap_start, trampoline_cr3);
    OFFSET(AP_START_EFER, struct ap_start, efer);
    OFFSET(AP_START_ENTRY, struct ap_start, entry);
    OFFSET(AP_START_KERNEL_CR3, struct ap_start, kernel_cr3);
    OFFSET(AP_START_CR4, struct ap_start, cr4);
    OFFSET(AP_START_STACK_TOP, struct ap_start, stack_top);
    OFFSET(AP_START_AREA, struct ap_start, area);
    SIZE(AP_START_SIZE, struct ap_start);

    OFFSET(CPU_START_TRAMPOLINE_START, struct cpu_start_layout, trampoline_start);
    OFFSET(CPU_START_TRAMPOLINE_END, struct cpu_start_layout, trampoline_end);
    OFFSET(CPU_START_ENTRY, struct cpu_start_layout, entry);
    OFFSET(CPU_START_IDENTITY_PDPT, struct cpu_start_layout, identity_pdpt_physical);
    OFFSET(CPU_START_GDT_TEMPLATE, struct cpu_start_layout, gdt_template);
    OFFSET(CPU_START_BOOT_STACK_TOP, struct cpu_start_layout, boot_stack_top);
    OFFSET(CPU_START_BOOT_IST1_TOP, struct cpu_start_layout, boot_ist1_top);
    OFFSET(CPU_START_BOOT_IST2_TOP, struct cpu_start_layout, boot_ist2_top);
    OFFSET(CPU_START_BOOT_IST3_TOP, struct cpu_start_layout, boot_ist3_top);
    SIZE(CPU_START_LAYOUT_SIZE, struct cpu_start_layout);
}
