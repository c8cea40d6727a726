// The kernel's GDT, TSS and IDT, its stacks and its heap. pvh-entry.S loads
// the tables and fills the IDT from trap-stubs.S's stub table.

#include "machine.h"

    .data
    .p2align 4
    .globl kernel_gdt, kernel_gdt_pointer, kernel_tss, idt, idt_pointer
    .globl kernel_stack_top, kernel_heap, kernel_heap_end
kernel_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF            // 0x08: kernel code, 64-bit
    .quad 0x00CF92000000FFFF            // 0x10: kernel data
    .quad 0x00CFF2000000FFFF            // 0x18: user data, DPL 3
    .quad 0x00AFFA000000FFFF            // 0x20: user code, 64-bit, DPL 3
    .word 103, 0                        // 0x28: 64-bit TSS, base patched at boot
    .byte 0, 0x89, 0, 0
    .long 0, 0
kernel_gdt_end:
    .p2align 3
kernel_gdt_pointer:
    .word kernel_gdt_end - kernel_gdt - 1
    .quad kernel_gdt

    .p2align 4
kernel_tss:
    .long 0
    .quad kernel_stack_top              // RSP0, for entries from ring 3
    .quad 0, 0
    .quad 0
    .quad ist1_stack_top                // IST1: exceptions
    .quad ist2_stack_top                // IST2: double fault
    .quad ist3_stack_top                // IST3: NMI, machine check
    .quad 0, 0, 0, 0
    .quad 0
    .word 0, 104                        // no I/O permission bitmap


    .p2align 3
idt_pointer:
    .word 129 * 16 - 1
    .quad idt

    .bss
    .p2align 12
idt:
    .skip 129 * 16
    .p2align 12
kernel_stack:
    .skip 64 * 1024
kernel_stack_top:
    .skip 16 * 1024
ist1_stack_top:
    .skip 8 * 1024
ist2_stack_top:
    .skip 8 * 1024
ist3_stack_top:

    // The heap has a section of its own that guest.lds.S puts last, at a 2 MiB
    // boundary, so that the kernel maps it with one huge page.
    .section .kernel_heap, "aw", @nobits
    .p2align 12
kernel_heap:
    .skip 2 * 1024 * 1024
kernel_heap_end:
