// PVH entry, the switch to long mode, and the CPU tables the kernel runs on.
//
// The PVH note tells the loader (KVMHost or QEMU) to start us at pvh_start32 in
// 32-bit protected mode, paging off, EBX = physical address of hvm_start_info.
// Bootstrap tables (static data: no loop runs to build them) map:
//   - physical 0..1 GiB at virtual 0, only until we run at our link address;
//   - physical 0..4 GiB at DIRECT_MAP_BASE (PML4 slot 255, PDPT slots 0-3);
//   - physical 0..1 GiB again at KERNEL_VIRTUAL_BASE (PDPT slot 510), where
//     the kernel image is linked.
// All of it sits below 2^47: Embedded Swift keeps flags in pointer bits 56-63.

#define KERNEL_VIRTUAL_BASE 0x00007FFF80000000
#define DIRECT_MAP_BASE     0x00007F8000000000
#define PAGE_PRESENT_WRITABLE 0x3
#define PAGE_HUGE_2M          0x83      // present, writable, 2 MiB page
#define EFER_MSR   0xC0000080
#define EFER_LME   (1 << 8)
#define EFER_NXE   (1 << 11)
#define CR0_PE_WP_PG 0x80010001
#define CR4_PAE      0x20

#define KERNEL_CODE 0x08
#define KERNEL_DATA 0x10
#define TSS_SELECTOR 0x28

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
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $(EFER_LME | EFER_NXE), %eax
    wrmsr
    mov %cr0, %eax
    or $CR0_PE_WP_PG, %eax
    mov %eax, %cr0
    ljmp $KERNEL_CODE, $boot_long_mode

    .code64
boot_long_mode:
    mov %esi, %r12d                     // zero-extends: upper halves are undefined after the switch
    movabs $kernel_entry64, %rax
    jmp *%rax

// ---- bootstrap GDT and page tables (physical) ----------------------------
    .section .boot.data, "aw"
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
boot_pdpt_identity:
    .quad boot_pd + PAGE_PRESENT_WRITABLE
    .fill 511, 8, 0
boot_pdpt_kernel:
    .quad boot_pd + PAGE_PRESENT_WRITABLE                   // direct map, GiB 0
    .quad boot_pd + 0x1000 + PAGE_PRESENT_WRITABLE          // GiB 1
    .quad boot_pd + 0x2000 + PAGE_PRESENT_WRITABLE          // GiB 2
    .quad boot_pd + 0x3000 + PAGE_PRESENT_WRITABLE          // GiB 3
    .fill 506, 8, 0
    .quad boot_pd + PAGE_PRESENT_WRITABLE                   // slot 510: the kernel image
    .quad 0
boot_pd:                                                    // 4 x 512 huge pages: 0..4 GiB
    .set frame, 0
    .rept 2048
    .quad (frame << 21) | PAGE_HUGE_2M
    .set frame, frame + 1
    .endr
    .globl boot_tables_end
boot_tables_end:

// ---- 64-bit kernel entry, at its link address ------------------------------
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
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    add $16, %rdi
    inc %ecx
    cmp $32, %ecx
    jb 2b
    // Gate 128 (int $0x80): reachable from ring 3 (DPL 3), on IST1 too.
    lea (idt + 128 * 16)(%rip), %rdi
    lea trap_stub_128(%rip), %rax
    mov %ax, (%rdi)
    movw $KERNEL_CODE, 2(%rdi)
    movb $1, 4(%rdi)
    movb $0xEE, 5(%rdi)                 // present, DPL 3, 64-bit interrupt gate
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    lidt idt_pointer(%rip)

    mov %r12, %rdi                      // hvm_start_info, physical
    call kmain
6:  cli
    hlt
    jmp 6b

// ---- exception stubs -------------------------------------------------------
// Each stub makes the frame uniform (a zero error code where the CPU pushes
// none), pushes its vector and joins trap_common.
.macro TRAP_STUB vector, has_error
trap_stub_\vector:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vector
    jmp trap_common
.endm

    TRAP_STUB 0, 0
    TRAP_STUB 1, 0
    TRAP_STUB 2, 0
    TRAP_STUB 3, 0
    TRAP_STUB 4, 0
    TRAP_STUB 5, 0
    TRAP_STUB 6, 0
    TRAP_STUB 7, 0
    TRAP_STUB 8, 1
    TRAP_STUB 9, 0
    TRAP_STUB 10, 1
    TRAP_STUB 11, 1
    TRAP_STUB 12, 1
    TRAP_STUB 13, 1
    // 14 (#PF) has a fast path first: see page_fault_fast below.
    TRAP_STUB 15, 0
    TRAP_STUB 16, 0
    TRAP_STUB 17, 1
    TRAP_STUB 18, 0
    TRAP_STUB 19, 0
    TRAP_STUB 20, 0
    TRAP_STUB 21, 1
    TRAP_STUB 22, 0
    TRAP_STUB 23, 0
    TRAP_STUB 24, 0
    TRAP_STUB 25, 0
    TRAP_STUB 26, 0
    TRAP_STUB 27, 0
    TRAP_STUB 28, 0
    TRAP_STUB 29, 1
    TRAP_STUB 30, 1
    TRAP_STUB 31, 0
    TRAP_STUB 128, 0

// ---- demand paging, fast path ---------------------------------------------
// A user page fault on an empty entry inside the lazy reservation the page
// trap last resolved, whose page table exists, is resolved here: a
// known-zero frame from the cache the page trap keeps filled goes into the
// entry (the page table's use count in its PD entry was marked stale when
// the path was armed), and the process resumes. About 60 instructions instead of the page trap's ~1000;
// ring 0 runs about 1.5 million instructions a second here. Anything else
// (kernel mode, protection, reserved bit, fetch, another range, no table,
// an empty cache) takes the ordinary path to the page trap.
trap_stub_14:
    testb $4, (%rsp)                    // error code: from ring 3?
    jz 9f
    testb $0x19, (%rsp)                 // protection, reserved bit or fetch
    jnz 9f
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    mov %cr2, %rax
    cmp fast_start(%rip), %rax
    jb 8f
    cmp fast_end(%rip), %rax
    jae 8f
    testb $2, 64(%rsp)                  // a write needs a writable range
    jz 1f
    testb $2, fast_flags(%rip)
    jz 8f
1:  cmpq $0, frame_cache_count(%rip)
    je 8f
    movabs $DIRECT_MAP_BASE, %rdx
    movabs $0x000FFFFFFFFFF000, %rdi
    mov fast_root(%rip), %rbx           // the PML4 (not read from CR3: that traps here)
    mov %rax, %rcx
    shr $39, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx
    mov (%rdx, %rbx), %rbx
    test $1, %bl
    jz 8f
    and %rdi, %rbx                      // the PDPT
    mov %rax, %rcx
    shr $30, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx
    mov (%rdx, %rbx), %rbx
    mov %ebx, %ecx
    and $0x81, %ecx
    cmp $1, %ecx                        // present, not a 1 GiB page
    jne 8f
    and %rdi, %rbx                      // the PD
    mov %rax, %rcx
    shr $21, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %r8            // the PD entry, physical
    mov (%rdx, %r8), %r9
    mov %r9d, %ecx
    and $0x81, %ecx
    cmp $1, %ecx                        // present, not a 2 MiB page
    jne 8f
    // The PT's use count lives in its PD entry. Rather than write that entry
    // on every fault too, the page trap marks the count stale when it arms
    // the fast path (the Pagemap recounts before it uses it); tables not so
    // marked go the slow way.
    bt $62, %r9
    jnc 8f
    mov %r9, %rbx
    and %rdi, %rbx                      // the PT
    mov %rax, %rcx
    shr $12, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx           // the leaf entry, physical
    cmpq $0, (%rdx, %rbx)               // empty: neither present nor lazily marked
    jne 8f
    mov frame_cache_count(%rip), %rsi
    dec %rsi
    mov %rsi, frame_cache_count(%rip)
    lea frame_cache(%rip), %rcx
    mov (%rcx, %rsi, 8), %rcx
    or fast_flags(%rip), %rcx
    mov %rcx, (%rdx, %rbx)              // map: not present before, so nothing to invalidate
    incq fast_count(%rip)
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $8, %rsp                        // the error code
    iretq
8:  pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
9:  pushq $14
    jmp trap_common

    .data
    .p2align 6
    .globl fast_fault_state
fast_fault_state:
fast_start:
    .quad 0
fast_end:
    .quad 0
fast_flags:
    .quad 0
fast_count:
    .quad 0
frame_cache_count:
    .quad 0
fast_root:
    .quad 0
frame_cache:
    .fill 64, 8, 0
    .text
    .globl fast_fault_state_get
fast_fault_state_get:
    lea fast_fault_state(%rip), %rax
    ret

// Saves the general registers as struct trap_frame and calls kernel_trap.
// 5 CPU words + error + vector + 15 registers = 22 words: RSP stays 16-aligned.
// An exception inside the exception path (say, the handler touching an
// unmapped page) would re-enter on the same IST stack forever: the depth
// counter stops that with exit status 5 instead.
trap_common:
    incl trap_depth(%rip)
    cmpl $1, trap_depth(%rip)
    jbe 1f
    mov $0xF4, %dx
    mov $5, %eax
    outl %eax, %dx
2:  cli
    hlt
    jmp 2b
1:  push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    call kernel_trap
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    decl trap_depth(%rip)
    iretq

    .section .rodata
    .p2align 3
trap_stub_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_stub_\v
    .endr

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

// ---- user mode ---------------------------------------------------------------
// user_enter(rip, rsp) runs a process in ring 3 until the kernel, in a trap
// taken from it, calls user_leave(value): that abandons the trap frame and
// returns `value` from user_enter, on the kernel stack it was called on.
    .text
    .globl user_enter
user_enter:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, user_return_rsp(%rip)
    pushq $0x1B                         // SS: user data, RPL 3
    pushq %rsi                          // RSP
    pushq $0x2                          // RFLAGS: IOPL 0, interrupts off
    pushq $0x23                         // CS: user code, RPL 3
    pushq %rdi                          // RIP
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    iretq

    .globl user_leave
user_leave:
    decl trap_depth(%rip)               // the trap that called us never returns
    mov user_return_rsp(%rip), %rsp
    mov %rdi, %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .data
    .p2align 3
user_return_rsp:
    .quad 0

// ---- access probes ---------------------------------------------------------
// One access each, at a known instruction. When the access faults with a
// probe armed, the page-fault path resumes at probe_resume with RAX = 1.
    .text
    .globl probe_read
probe_read:                             // (address rdi) -> 0, or 1 if it faulted
    xor %eax, %eax
probe_read_access:
    movb (%rdi), %cl
    ret

    .globl probe_write
probe_write:                            // writes `ret` (0xC3), which the page already holds
    xor %eax, %eax
probe_write_access:
    movb $0xC3, (%rdi)
    ret

    .globl probe_fetch
probe_fetch:                            // calls the page, whose first byte is `ret`
    xor %eax, %eax
    call *%rdi
    ret

    .globl probe_resume
probe_resume:
    mov $1, %eax
    ret

    .section .rodata
    .p2align 3
    .globl probe_layout
probe_layout:
    .quad probe_read_access
    .quad probe_write_access
    .quad probe_resume

    .text
    .globl probe_layout_get
probe_layout_get:
    lea probe_layout(%rip), %rax
    ret

    .text
    .globl kernel_layout_get
kernel_layout_get:
    lea kernel_layout(%rip), %rax
    ret

// ---- kernel GDT, TSS, IDT ---------------------------------------------------
    .data
    .p2align 4
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

    .p2align 2
trap_depth:
    .long 0

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

    // The heap has a section of its own that guest.ld puts last, at a 2 MiB
    // boundary, so that the kernel maps it with one huge page.
    .section .kernel_heap, "aw", @nobits
    .p2align 12
kernel_heap:
    .skip 2 * 1024 * 1024
kernel_heap_end:
