// A TLB shootdown seen from ring 3, with two threads: thread 1 reads a page
// in a loop; thread 0 frees the page's reservation, then says so. Once the
// free (and its shootdown) has returned, thread 1's next read must fault,
// killing the process at the page. A read that succeeds after thread 0 said
// so used a stale translation: thread 1 reports the page (SYS_REPORT) and
// the process exits with status 3.
#include "threads.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    test %rdi, %rdi
    jnz 5f
    // Thread 0: one eager page, its address published.
    mov $1, %edi
    mov $1, %esi            // eager
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 9f
    mov %rax, %rbx
    movq $0x1234, (%rbx)
    mov %rbx, shared_base(%rip)
1:  cmpq $0, reads(%rip)    // thread 1 has the translation
    jne 2f
    pause
    jmp 1b
2:  mov %rbx, %rdi
    SYSCALL SYS_FREE
    test %rax, %rax
    jnz 9f
    movq $1, freed(%rip)
3:  cmpq $0, stale(%rip)    // killed by thread 1's fault, or told of a stale read
    jne 4f
    pause
    jmp 3b
4:  mov $3, %edi
    SYSCALL SYS_EXIT
    // Thread 1.
5:  AWAIT_NONZERO shared_base, %rbx
6:  mov freed(%rip), %rcx   // said before this read?
    mov (%rbx), %rax
    lock incq reads(%rip)
    test %rcx, %rcx
    jz 6b
    mov %rbx, %rdi          // a read after the free returned: stale
    SYSCALL SYS_REPORT
    movq $1, stale(%rip)
    xor %edi, %edi
    SYSCALL SYS_EXIT
9:  mov $1, %edi
    SYSCALL SYS_EXIT

    .data
    .p2align 3
shared_base: .quad 0
reads:       .quad 0
freed:       .quad 0
stale:       .quad 0
