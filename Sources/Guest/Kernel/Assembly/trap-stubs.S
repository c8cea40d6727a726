// The exception path's entry: a stub a vector, and trap_common, which saves
// the general registers as struct trap_frame and calls kernel_trap. The #PF
// stub (trap_stub_14) has a fast path first, in fast-fault.S.

#include "machine.h"
#include "asm-offsets.h"

    .text
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
    .globl trap_stub_128
    .if SHOOTDOWN_VECTOR != 241
    .error "trap_stub_241 is the shootdown vector's stub"
    .endif
    TRAP_STUB 241, 0                    // SHOOTDOWN_VECTOR, an IPI: through trap_common to kernel_trap
    .globl trap_stub_241
    .if PROCESS_VECTOR != 242
    .error "trap_stub_242 is the process vector's stub"
    .endif
    TRAP_STUB 242, 0                    // PROCESS_VECTOR, an IPI, the same way
    .globl trap_stub_242

// Saves the general registers as struct trap_frame and calls kernel_trap.
// 5 CPU words + error + vector + 15 registers = 22 words: RSP stays 16-aligned.
// An exception inside the exception path (say, the handler touching an
// unmapped page) would re-enter on the same IST stack forever: the depth
// counter (the CPU's own, in its struct cpu_local) stops that with exit
// status 5 instead.
    .globl trap_common
trap_common:
    // From ring 3, GS_BASE is the user's: swapgs brings the CPU's own area
    // (KERNEL_GS_BASE holds it while user code runs). The frame's CS is at
    // 24(%rsp), above the vector and the error code.
    testb $3, 24(%rsp)
    jz 3f
    swapgs
3:  incq %gs:CPU_LOCAL_TRAP_DEPTH
    cmpq $1, %gs:CPU_LOCAL_TRAP_DEPTH
    jbe 1f
    mov $EXIT_PORT, %dx
    mov $EXIT_NESTED_EXCEPTION, %eax
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
    // Ring 3 may have set EFLAGS.AC, and the CPU keeps it across the trap:
    // clear it, so that SMAP holds in the kernel (iretq restores the user's).
    pushfq
    andl $~0x40000, (%rsp)
    popfq
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
    decq %gs:CPU_LOCAL_TRAP_DEPTH
    testb $3, 8(%rsp)                   // back to ring 3: its GS_BASE again
    jz 4f
    swapgs
4:  iretq

    .section .rodata
    .p2align 3
    .globl trap_stub_table
trap_stub_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_stub_\v
    .endr

