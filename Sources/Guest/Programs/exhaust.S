// Reserves far more pages lazily than memory holds and touches them all.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $0x100000, %edi     // 4 GiB of pages
    xor %esi, %esi
    SYSCALL SYS_ALLOCATE
    mov %rax, %rbx
1:  movq $1, (%rbx)
    add $4096, %rbx
    jmp 1b
