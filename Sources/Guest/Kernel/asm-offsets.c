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
}
