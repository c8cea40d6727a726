// What the kernel knows of its own image: the addresses guest.lds.S and the
// other assembly files define, each checked against struct kernel_layout's
// offsets (asm-offsets.h) while it assembles.

#include "machine.h"
#include "layout-check.h"

    .section .rodata
    .globl kernel_layout
    .p2align 3
kernel_layout:
    field kernel_layout, KERNEL_LAYOUT_IMAGE_PHYSICAL_START
    .quad __image_physical_start
    field kernel_layout, KERNEL_LAYOUT_IMAGE_PHYSICAL_END
    .quad __image_physical_end
    field kernel_layout, KERNEL_LAYOUT_VIRTUAL_BASE
    .quad KERNEL_VIRTUAL_BASE
    field kernel_layout, KERNEL_LAYOUT_DIRECT_MAP_BASE
    .quad DIRECT_MAP_BASE
    field kernel_layout, KERNEL_LAYOUT_HEAP_START
    .quad kernel_heap
    field kernel_layout, KERNEL_LAYOUT_HEAP_END
    .quad kernel_heap_end
    field kernel_layout, KERNEL_LAYOUT_BOOT_TABLES_PHYSICAL_START
    .quad boot_pml4
    field kernel_layout, KERNEL_LAYOUT_BOOT_TABLES_PHYSICAL_END
    .quad boot_tables_end
    field kernel_layout, KERNEL_LAYOUT_TEXT_START
    .quad __text_start
    field kernel_layout, KERNEL_LAYOUT_TEXT_END
    .quad __text_end
    field kernel_layout, KERNEL_LAYOUT_RODATA_START
    .quad __rodata_start
    field kernel_layout, KERNEL_LAYOUT_RODATA_END
    .quad __rodata_end
    field kernel_layout, KERNEL_LAYOUT_DATA_START
    .quad __data_start
    field kernel_layout, KERNEL_LAYOUT_DATA_END
    .quad __data_end
    end_of kernel_layout, KERNEL_LAYOUT_SIZE

    .text
    .globl kernel_layout_get
kernel_layout_get:
    lea kernel_layout(%rip), %rax
    ret
