// Ring 3: entering a process, and leaving it from a trap taken from it.

#include "asm-offsets.h"

// user_enter(rip, rsp, rdi, rsi, rflags) runs a process in ring 3, with RDI
// and RSI as given (a thread's number and the thread count) and every other
// register zero, until the kernel, in a trap taken from it, calls
// user_leave(value): that abandons the trap frame and returns `value` from
// user_enter, on the kernel stack it was called on.
    .text
    .globl user_enter
user_enter:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %gs:CPU_LOCAL_USER_RETURN_RSP
    pushq $0x1B                         // SS: user data, RPL 3
    pushq %rsi                          // RSP
    pushq %r8                           // RFLAGS: IOPL 0; IF as the kernel says
    pushq $0x23                         // CS: user code, RPL 3
    pushq %rdi                          // RIP
    mov %rdx, %rdi
    mov %rcx, %rsi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    swapgs                              // user GS_BASE in, the CPU's area to KERNEL_GS_BASE
    iretq

    .globl user_leave
user_leave:
    decq %gs:CPU_LOCAL_TRAP_DEPTH       // the trap that called us never returns
    mov %gs:CPU_LOCAL_USER_RETURN_RSP, %rsp
    mov %rdi, %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

