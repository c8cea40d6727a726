// What the kernel knows of its own image: the addresses guest.ld and the
// other assembly files define, in the order struct kernel_layout has them.

#include "machine.h"

    .section .rodata
    .globl kernel_layout
    .p2align 3
kernel_layout:
    .quad __image_physical_start
    .quad __image_physical_end
    .quad KERNEL_VIRTUAL_BASE
    .quad DIRECT_MAP_BASE
    .quad kernel_heap
    .quad kernel_heap_end
    .quad boot_pml4
    .quad boot_tables_end
    .quad __text_start, __text_end
    .quad __rodata_start, __rodata_end
    .quad __data_start, __data_end

    .text
    .globl kernel_layout_get
kernel_layout_get:
    lea kernel_layout(%rip), %rax
    ret
