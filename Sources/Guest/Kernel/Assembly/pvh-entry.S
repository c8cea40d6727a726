// PVH entry and the switch to long mode, then the kernel's own GDT, TSS and
// IDT loaded, and kmain called.
//
// The PVH note tells the loader (KVMHost or QEMU) to start us at pvh_start32 in
// 32-bit protected mode, paging off, EBX = physical address of hvm_start_info.
// Bootstrap tables (static data: no loop runs to build them) map:
//   - physical 0..1 GiB at virtual 0, only until we run at our link address;
//   - physical 0..4 GiB at DIRECT_MAP_BASE (PML4 slot 255, PDPT slots 0-3);
//   - physical 0..1 GiB again at KERNEL_VIRTUAL_BASE (PDPT slot 510), where
//     the kernel image is linked.

#include "machine.h"

// ---- PVH note -------------------------------------------------------------
    .section .note.pvh, "a"
    .p2align 2
    .long 4                 // name size: "Xen\0"
    .long 8                 // descriptor size
    .long 18                // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .quad pvh_start32

// ---- 32-bit entry, at its physical address --------------------------------
    .section .boot.text, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    mov %ebx, %esi                      // keep the start-info address
    lgdt boot_gdt_pointer
    mov $KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    // Every CPU feature the entry and the kernel turn on or rely on is
    // checked before its first use: without one, a line on COM1 names it
    // and the guest exits with EXIT_MISSING_CPU_FEATURE, where wrmsr would
    // take a #GP and the guest would triple fault with nothing said. No
    // stack yet (PVH leaves ESP undefined): straight-line code only.
    // CPUID clobbers EBX; the start-info address is safe in ESI.
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 1f
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx                        // long mode
    jnc 1f
    // NX is optional: without it EFER.NXE stays off, bit 63 of an entry is
    // reserved, and the kernel maps nothing no-execute (PageTableEntry).
    xor %edi, %edi
    bt $20, %edx
    adc $0, %edi                        // EDI = 1 with NX
    mov $1, %eax
    cpuid
    bt $6, %edx                         // PAE: CR4.PAE, 64-bit entries
    jnc 3f
    bt $5, %edx                         // MSR: rdmsr/wrmsr for EFER
    jnc 4f
    bt $4, %edx                         // TSC: rdtsc times processes
    jnc 5f
    jmp 7f
1:  mov $cpu_no_long_mode, %esi
    jmp 6f
3:  mov $cpu_no_pae, %esi
    jmp 6f
4:  mov $cpu_no_msr, %esi
    jmp 6f
5:  mov $cpu_no_tsc, %esi
6:  mov $COM1 + 5, %dx                  // the line, a byte at a time, each once
11: inb %dx, %al                        // the UART's holding register is empty (LSR
    test $0x20, %al                     // THRE): QEMU drops a byte written over one
    jz 11b                              // it has not sent yet
    mov $COM1, %dx
    lodsb
    test %al, %al
    jz 8f
    outb %al, %dx
    jmp 6b
8:  mov $REPORT_PORT, %dx               // Where no host answers the report port
    inl %dx, %eax                       // (QEMU), isa-debug-exit keeps 7 bits of
    cmp $CHANNEL_SIGNATURE, %eax        // the status: it goes first, whole, in an
    je 13f                              // exit frame on COM2 (LinkFrame.exit)
    mov $missing_feature_exit_frame, %esi
    mov $5, %ecx
12: mov $SERIAL_LINK + 5, %dx
14: inb %dx, %al                        // LSR THRE, as for COM1 (an absent UART
    test $0x20, %al                     // reads 0xFF: no wait)
    jz 14b
    mov $SERIAL_LINK, %dx
    lodsb
    outb %al, %dx
    loop 12b
13: mov $EXIT_PORT, %dx
    mov $EXIT_MISSING_CPU_FEATURE, %eax
    outl %eax, %dx
9:  cli
    hlt
    jmp 9b
7:  mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $EFER_LME, %eax
    test %edi, %edi
    jz 10f
    or $EFER_NXE, %eax
10: wrmsr
    mov %cr0, %eax
    or $CR0_PE_WP_PG, %eax
    mov %eax, %cr0
    ljmp $KERNEL_CODE, $boot_long_mode

    .code64
boot_long_mode:
    mov %esi, %r12d                     // zero-extends: upper halves are undefined after the switch
    rdtsc                               // the boot's first long-mode moment (the ready record's boot cycles)
    shl $32, %rdx
    or %rdx, %rax
    movabs $kernel_boot_tsc, %rcx
    mov %rax, (%rcx)
    movabs $kernel_entry64, %rax
    jmp *%rax

// ---- bootstrap GDT and page tables (physical) ----------------------------
    .section .boot.data, "aw"
cpu_no_long_mode: .asciz "guest kernel: the CPU has no long mode (CPUID 0x80000001 EDX bit 29 lm); the kernel runs in long mode only\n"
cpu_no_pae:       .asciz "guest kernel: the CPU has no PAE (CPUID 1 EDX bit 6 pae); long mode needs it\n"
cpu_no_msr:       .asciz "guest kernel: the CPU has no MSRs (CPUID 1 EDX bit 5 msr); EFER is one\n"
missing_feature_exit_frame: .byte LINK_FRAME_EXIT, EXIT_MISSING_CPU_FEATURE, 0, 0, 0
cpu_no_tsc:       .asciz "guest kernel: the CPU has no time-stamp counter (CPUID 1 EDX bit 4 tsc); processes are timed with it\n"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF            // 0x08: 64-bit kernel code
    .quad 0x00CF92000000FFFF            // 0x10: kernel data
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .p2align 12
    .globl boot_pml4
boot_pml4:
    .quad boot_pdpt_identity + PAGE_PRESENT_WRITABLE
    .fill 254, 8, 0
    .quad boot_pdpt_kernel + PAGE_PRESENT_WRITABLE          // slot 255
    .fill 256, 8, 0
    .globl boot_pdpt_identity
boot_pdpt_identity:
    .quad boot_pd + PAGE_PRESENT_WRITABLE
    .fill 511, 8, 0
boot_pdpt_kernel:
    .set gib, 0
    .rept BOOTSTRAP_MAP_GIB                                 // the direct map, a PD a GiB
    .quad boot_pd + gib * 0x1000 + PAGE_PRESENT_WRITABLE
    .set gib, gib + 1
    .endr
    .fill 510 - BOOTSTRAP_MAP_GIB, 8, 0
    .quad boot_pd + PAGE_PRESENT_WRITABLE                   // slot 510: the kernel image
    .quad 0
boot_pd:                                                    // 512 huge pages a GiB
    .set frame, 0
    .rept BOOTSTRAP_MAP_GIB * 512
    .quad (frame << 21) | PAGE_HUGE_2M
    .set frame, frame + 1
    .endr
    .globl boot_tables_end
boot_tables_end:

// ---- 64-bit kernel entry, at its link address ------------------------------
// `GATE vector, stub, ist, type`: the IDT's gate for `vector` (type 0x8E: a
// present 64-bit interrupt gate of DPL 0; 0xEE: DPL 3, reachable from ring 3).
.macro GATE vector, stub, ist, type
    lea (idt + \vector * 16)(%rip), %rdi
    lea \stub(%rip), %rax
    mov %ax, (%rdi)
    movw $KERNEL_CODE, 2(%rdi)
    movb $\ist, 4(%rdi)
    movb $\type, 5(%rdi)
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
.endm

    .text
kernel_entry64:
    lea kernel_stack_top(%rip), %rsp
    // The identity mapping has served: drop it, so that everything below
    // the kernel region, page 0 included, is unmapped.
    movabs $(boot_pml4 + KERNEL_VIRTUAL_BASE), %rax
    movq $0, (%rax)
    mov %cr3, %rax
    mov %rax, %cr3

    lgdt kernel_gdt_pointer(%rip)
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
    // GS_BASE: the boot CPU's own area (struct cpu_local), whose first word
    // points at itself; the trap path counts its nesting there.
    lea cpu_locals(%rip), %rax
    mov %rax, (%rax)
    mov %rax, %rdx
    shr $32, %rdx
    mov $GS_BASE_MSR, %ecx
    wrmsr

    // TSS descriptor: the base is split across the descriptor, so patch it here.
    lea kernel_tss(%rip), %rax
    lea (kernel_gdt + TSS_SELECTOR)(%rip), %rdi
    mov %ax, 2(%rdi)
    shr $16, %rax
    mov %al, 4(%rdi)
    mov %ah, 7(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    mov $TSS_SELECTOR, %ax
    ltr %ax

    // IDT: 32 interrupt gates. #DF runs on IST2, #NMI and #MC on IST3, the rest on IST1.
    lea idt(%rip), %rdi
    lea trap_stub_table(%rip), %rsi
    xor %ecx, %ecx
2:  mov (%rsi, %rcx, 8), %rax
    mov %ax, (%rdi)
    movw $KERNEL_CODE, 2(%rdi)
    mov $1, %dl
    cmp $8, %ecx
    jne 3f
    mov $2, %dl
3:  cmp $2, %ecx
    je 4f
    cmp $18, %ecx
    jne 5f
4:  mov $3, %dl
5:  mov %dl, 4(%rdi)
    movb $0x8E, 5(%rdi)                 // present, DPL 0, 64-bit interrupt gate
    cmp $3, %ecx
    jne 7f
    // #BP is DPL 3, as Linux has it, so that a ring-3 int3 reaches the
    // kernel: hardware and QEMU TCG raise #GP through a DPL-0 gate (this
    // machine's KVM delivers it anyway, so only QEMU shows the difference).
    movb $0xEE, 5(%rdi)
7:
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    add $16, %rdi
    inc %ecx
    cmp $32, %ecx
    jb 2b
    // Gate 128 (int $0x80): reachable from ring 3 (DPL 3), on IST1 too.
    GATE 128, trap_stub_128, 1, 0xEE
    // The IPIs: a shootdown and a kill of a process's threads through
    // trap_common on IST1 (trap-stubs.S); a wake on the stack it interrupts.
    GATE SHOOTDOWN_VECTOR, trap_stub_241, 1, 0x8E
    GATE PROCESS_VECTOR, trap_stub_242, 1, 0x8E
    GATE WAKE_VECTOR, wake_stub, 0, 0x8E
    lidt idt_pointer(%rip)

    mov %r12, %rdi                      // hvm_start_info, physical
    call kmain
6:  cli
    hlt
    jmp 6b

// The TSC at boot_long_mode: kmain measures the boot's parts from it.
    .data
    .balign 8
    .globl kernel_boot_tsc
kernel_boot_tsc:
    .quad 0
