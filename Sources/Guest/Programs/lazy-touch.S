// Reserves 64 pages lazily, writes to 10 of them (every sixth page), reads
// them back and reports the sum: 10 demand faults, 10 frames.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $64, %edi
    xor %esi, %esi          // lazy
    SYSCALL SYS_ALLOCATE
    test %rax, %rax
    jz 9f
    mov %rax, %rbx          // base
    xor %ecx, %ecx          // page index
1:  mov %rcx, %rdx
    shl $12, %rdx
    lea 1(%rcx), %r8
    mov %r8, (%rbx, %rdx)   // page i holds i + 1
    add $6, %rcx
    cmp $60, %rcx
    jb 1b
    xor %ecx, %ecx
    xor %edi, %edi          // the sum read back
2:  mov %rcx, %rdx
    shl $12, %rdx
    add (%rbx, %rdx), %rdi
    add $6, %rcx
    cmp $60, %rcx
    jb 2b
    SYSCALL SYS_REPORT      // 1 + 7 + 13 + ... + 55 = 280
    xor %edi, %edi
    SYSCALL SYS_EXIT
9:  mov $1, %edi
    SYSCALL SYS_EXIT
