// Reserves 8 pages eagerly and fills them, frees them, reserves 8 again (the
// same frames, given back dirty) and reports the OR of every word there (0:
// each frame was zeroed before it was handed over); frees those too and
// writes to the first page, which must fault: it is gone.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $8, %edi
    mov $1, %esi            // eager
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 9f
    mov %rax, %rbx          // base
    movabs $0xA5A5A5A5A5A5A5A5, %rax
    xor %ecx, %ecx
1:  mov %rax, (%rbx, %rcx, 8)
    inc %rcx
    cmp $4096, %rcx         // 8 pages of 512 words
    jb 1b
    mov %rbx, %rdi
    SYSCALL SYS_FREE
    test %rax, %rax
    jnz 9f
    mov $8, %edi
    mov $1, %esi
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 9f
    mov %rax, %rbx
    xor %edi, %edi          // the OR of every word
    xor %ecx, %ecx
2:  or (%rbx, %rcx, 8), %rdi
    inc %rcx
    cmp $4096, %rcx
    jb 2b
    SYSCALL SYS_REPORT
    mov %rbx, %rdi
    SYSCALL SYS_FREE
    test %rax, %rax
    jnz 9f
    movq $1, (%rbx)         // the pages are gone: this faults
    xor %edi, %edi
    SYSCALL SYS_EXIT
9:  mov $1, %edi
    SYSCALL SYS_EXIT
