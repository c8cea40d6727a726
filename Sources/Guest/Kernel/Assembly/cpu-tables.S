// The kernel's GDT, TSS and IDT, its stacks and its heap, and each CPU's
// own area (struct cpu_local). pvh-entry.S loads the first GDT and TSS and
// fills the IDT from trap-stubs.S's stub table; every CPU then loads a GDT
// and TSS of its own (cpu_local_load), and they share the IDT.

#include "machine.h"
#include "layout-check.h"

    .data
    .p2align 4
    .globl kernel_gdt, kernel_gdt_pointer, kernel_tss, idt, idt_pointer
    .globl kernel_stack_top, ist1_stack_top, ist2_stack_top, ist3_stack_top, kernel_heap, kernel_heap_end
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
    .word 256 * 16 - 1
    .quad idt

    .bss
    .p2align 12
idt:
    .skip 256 * 16
    .p2align 8
    .globl cpu_locals
cpu_locals:
    .skip MAXIMUM_CPUS * CPU_LOCAL_SIZE
    // The lock validator's tables (Locks/LockValidator.swift), zero at boot
    // with the rest of .bss: no allocation, no loop to clear them.
    .p2align 3
    .globl lock_validator_storage
lock_validator_storage:
    .skip LOCK_VALIDATOR_STORAGE_BYTES
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

    .text
// struct cpu_local *cpu_local_area(unsigned long index)
    .globl cpu_local_area
cpu_local_area:
    .if CPU_LOCAL_SIZE != 256
    .error "struct cpu_local is not 256 bytes, which cpu_local_area assumes"
    .endif
    mov %rdi, %rax
    shl $8, %rax
    lea cpu_locals(%rip), %rdi
    add %rdi, %rax
    ret

// void cpu_local_load(struct cpu_local *area): the area's GDT (its TSS
// descriptor is the CPU's own), CS and the data segments again, its TSS,
// the shared IDT, and GS_BASE = area, in that order: loading GS's selector
// may clear its base.
    .globl cpu_local_load
cpu_local_load:
    sub $16, %rsp
    movw $(7 * 8 - 1), (%rsp)
    lea CPU_LOCAL_GDT(%rdi), %rax
    mov %rax, 2(%rsp)
    lgdt (%rsp)
    add $16, %rsp
    pushq $KERNEL_CODE
    lea 1f(%rip), %rax
    pushq %rax
    lretq
1:  mov $KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $TSS_SELECTOR, %ax
    ltr %ax
    lidt idt_pointer(%rip)
    mov $GS_BASE_MSR, %ecx
    mov %rdi, %rax
    mov %rdi, %rdx
    shr $32, %rdx
    wrmsr
    ret

// The wake vector: an IPI that only ends a halt (cpu_wait_for_interrupt).
// It acknowledges the local APIC and returns; it touches no GS, so it needs
// no swapgs whichever ring it interrupts.
    .globl wake_stub
wake_stub:
    push %rax
    movabs $(DIRECT_MAP_BASE + LOCAL_APIC_PHYSICAL + 0xB0), %rax
    movl $0, (%rax)                     // end of interrupt
    pop %rax
    iretq
