// A TLB shootdown of a downgrade, seen from ring 3, with two threads:
// thread 1 writes to a page in a loop; thread 0 makes the page read-only,
// then says so. Once the protect (and its shootdown) has returned, thread
// 1's next write must fault, killing the process at the page. A write that
// succeeds after thread 0 said so went through a stale writable
// translation: thread 1 reports the page and the process exits with status 3.
#include "threads.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    test %rdi, %rdi
    jnz 5f
    mov $1, %edi
    mov $1, %esi            // eager
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 9f
    mov %rax, %rbx
    mov %rbx, shared_base(%rip)
1:  cmpq $0, writes(%rip)   // thread 1 has the writable translation
    jne 2f
    pause
    jmp 1b
2:  mov %rbx, %rdi
    SYSCALL SYS_PROTECT
    test %rax, %rax
    jnz 9f
    movq $1, protected(%rip)
3:  cmpq $0, stale(%rip)
    jne 4f
    pause
    jmp 3b
4:  mov $3, %edi
    SYSCALL SYS_EXIT
5:  AWAIT_NONZERO shared_base, %rbx
6:  mov protected(%rip), %rcx   // said before this write?
    incq (%rbx)
    lock incq writes(%rip)
    test %rcx, %rcx
    jz 6b
    mov %rbx, %rdi              // a write after the protect returned: stale
    SYSCALL SYS_REPORT
    movq $1, stale(%rip)
    xor %edi, %edi
    SYSCALL SYS_EXIT
9:  mov $1, %edi
    SYSCALL SYS_EXIT

    .data
    .p2align 3
shared_base: .quad 0
writes:      .quad 0
protected:   .quad 0
stale:       .quad 0
