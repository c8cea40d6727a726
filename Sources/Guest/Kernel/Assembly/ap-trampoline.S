// Starting an application processor as hardware does: the SIPI's vector
// (AP_TRAMPOLINE_PHYSICAL >> 12) starts it in real mode at CS = 0x800,
// IP = 0, in a copy of ap_trampoline that the boot CPU put there. It goes
// to protected mode, then to long mode on the tables the boot CPU prepared
// (struct ap_start: the trampoline's page identity-mapped, and the kernel
// region), and jumps to ap_entry64 at the kernel's link address.
// ap_trampoline itself is never run where it is linked: only its copy.

#include "machine.h"
#include "layout-check.h"

// A label's address in the copy.
#define AT(label) (AP_TRAMPOLINE_PHYSICAL + (label) - ap_trampoline)
#define PARAMETER(offset) (AP_START_PHYSICAL + (offset))
#define CODE32 0x18

    .section .rodata
    .p2align 4
    .globl ap_trampoline, ap_trampoline_end
ap_trampoline:
    .code16
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl AT(ap_gdt_pointer)
    mov %cr0, %eax
    or $1, %eax                         // PE
    mov %eax, %cr0
    ljmpl $CODE32, $AT(ap_protected)

    .code32
ap_protected:
    mov $KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $CR4_PAE, %eax
    mov %eax, %cr4
    mov PARAMETER(AP_START_TRAMPOLINE_CR3), %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    mov PARAMETER(AP_START_EFER), %eax  // LME, and NXE where the boot CPU has it
    xor %edx, %edx
    wrmsr
    mov $CR0_PE_WP_PG, %eax
    mov %eax, %cr0
    ljmp $KERNEL_CODE, $AT(ap_long_mode)

    .code64
ap_long_mode:
    mov PARAMETER(AP_START_ENTRY), %rax
    jmp *%rax

    .p2align 3
ap_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF            // KERNEL_CODE: 64-bit code
    .quad 0x00CF92000000FFFF            // KERNEL_DATA
    .quad 0x00CF9A000000FFFF            // CODE32: 32-bit code, for the step through protected mode
ap_gdt_pointer:
    .word ap_gdt_pointer - ap_gdt - 1
    .long AT(ap_gdt)
ap_trampoline_end:

// At the kernel's link address, still on the trampoline's tables: the
// parameters are read through the identity map before CR3 leaves it.
    .text
    .globl ap_entry64
ap_entry64:
    mov $AP_START_PHYSICAL, %ebx
    mov AP_START_KERNEL_CR3(%rbx), %rax
    mov AP_START_CR4(%rbx), %rcx
    mov AP_START_STACK_TOP(%rbx), %rsp
    mov AP_START_AREA(%rbx), %rdi
    mov %rcx, %cr4
    mov %rax, %cr3
    push %rdi
    call cpu_local_load
    pop %rdi
    xor %ebp, %ebp                      // the end of every backtrace
    call kernel_ap_main
1:  cli
    hlt
    jmp 1b

// cpu_start_layout_get: what CPUs.swift needs of the image to start a CPU.
    .section .rodata
    .p2align 3
cpu_start_layout:
    field cpu_start_layout, CPU_START_TRAMPOLINE_START
    .quad ap_trampoline
    field cpu_start_layout, CPU_START_TRAMPOLINE_END
    .quad ap_trampoline_end
    field cpu_start_layout, CPU_START_ENTRY
    .quad ap_entry64
    field cpu_start_layout, CPU_START_IDENTITY_PDPT
    .quad boot_pdpt_identity
    field cpu_start_layout, CPU_START_GDT_TEMPLATE
    .quad kernel_gdt
    field cpu_start_layout, CPU_START_BOOT_STACK_TOP
    .quad kernel_stack_top
    field cpu_start_layout, CPU_START_BOOT_IST1_TOP
    .quad ist1_stack_top
    field cpu_start_layout, CPU_START_BOOT_IST2_TOP
    .quad ist2_stack_top
    field cpu_start_layout, CPU_START_BOOT_IST3_TOP
    .quad ist3_stack_top
    end_of cpu_start_layout, CPU_START_LAYOUT_SIZE

    .text
    .globl cpu_start_layout_get
cpu_start_layout_get:
    lea cpu_start_layout(%rip), %rax
    ret
