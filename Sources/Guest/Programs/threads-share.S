// Threads on one lazy reservation: thread 0 reserves 64 pages lazily and
// publishes the address; every thread writes its number + 1 into its own
// word of every page, all at once (the threads fault on the same pages
// together), then thread 0, once every thread is done, checks every word
// of every page and exits 0, or 2 at the first one wrong.
#include "threads.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov %rdi, %r12          // this thread's number
    mov %rsi, %r13          // the thread count
    test %r12, %r12
    jnz 1f
    mov $64, %edi
    xor %esi, %esi          // lazy
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 8f
    mov %rax, shared_base(%rip)
1:  AWAIT_NONZERO shared_base, %rbx
    lea 1(%r12), %r8        // the mark
    xor %ecx, %ecx          // page
3:  mov %rcx, %rdx
    shl $12, %rdx
    lea (%rbx, %rdx), %rdx
    mov %r8, (%rdx, %r12, 8)
    inc %rcx
    cmp $64, %rcx
    jb 3b
    THREADS_JOIN done_count, %r12, %r13
    xor %ecx, %ecx          // page
6:  xor %esi, %esi          // thread
7:  mov %rcx, %rdx
    shl $12, %rdx
    lea (%rbx, %rdx), %rdx
    lea 1(%rsi), %rax
    cmp %rax, (%rdx, %rsi, 8)
    jne 9f
    inc %rsi
    cmp %r13, %rsi
    jb 7b
    inc %rcx
    cmp $64, %rcx
    jb 6b
    xor %edi, %edi
    SYSCALL SYS_EXIT
8:  mov $1, %edi
    SYSCALL SYS_EXIT
9:  mov $2, %edi
    SYSCALL SYS_EXIT

    .data
    .p2align 3
shared_base: .quad 0
done_count:  .quad 0
