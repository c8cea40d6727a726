// Ring 3: entering a process, and leaving it from a trap taken from it.

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
