// Demand faults shared out among threads: thread 0 reserves 256 pages
// lazily and publishes the address; thread i of n writes to pages
// i, i + n, i + 2n, ... (256 / n each). Exits 0 once every thread is done.
// For kvmbench: 256 faults by one thread against 128 each by two.
#include "threads.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov %rdi, %r12          // this thread's number
    mov %rsi, %r13          // the thread count
    test %r12, %r12
    jnz 1f
    mov $256, %edi
    xor %esi, %esi          // lazy
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 8f
    mov %rax, shared_base(%rip)
1:  AWAIT_NONZERO shared_base, %rbx
    mov %r12, %rcx          // page
3:  mov %rcx, %rdx
    shl $12, %rdx
    movq $1, (%rbx, %rdx)
    add %r13, %rcx
    cmp $256, %rcx
    jb 3b
    THREADS_JOIN done_count, %r12, %r13
    xor %edi, %edi
    SYSCALL SYS_EXIT
8:  mov $1, %edi
    SYSCALL SYS_EXIT

    .data
    .p2align 3
shared_base: .quad 0
done_count:  .quad 0
