// Threads that change one address space at once: each thread, 300 times,
// reserves 4 pages lazily, writes its number into each (4 demand faults),
// reads them back and frees the reservation (4 invalidations, shot down
// to every other thread's CPU). Exits 0 once every thread is done, 2 when a
// page read back another thread's number, 1 when a reservation failed.
#include "threads.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov %rdi, %r12          // this thread's number
    mov %rsi, %r13          // the thread count
    lea 1(%r12), %r14       // its mark
    mov $300, %r15          // rounds
1:  mov $4, %edi
    xor %esi, %esi          // lazy
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 8f
    mov %rax, %rbx
    xor %ecx, %ecx
2:  mov %rcx, %rdx
    shl $12, %rdx
    mov %r14, (%rbx, %rdx)
    inc %rcx
    cmp $4, %rcx
    jb 2b
    xor %ecx, %ecx
3:  mov %rcx, %rdx
    shl $12, %rdx
    cmp %r14, (%rbx, %rdx)
    jne 9f
    inc %rcx
    cmp $4, %rcx
    jb 3b
    mov %rbx, %rdi
    SYSCALL SYS_FREE
    test %rax, %rax
    jnz 8f
    dec %r15
    jnz 1b
    THREADS_JOIN done_count, %r12, %r13
    xor %edi, %edi
    SYSCALL SYS_EXIT
8:  mov $1, %edi
    SYSCALL SYS_EXIT
9:  mov $2, %edi
    SYSCALL SYS_EXIT

    .data
    .p2align 3
done_count: .quad 0
