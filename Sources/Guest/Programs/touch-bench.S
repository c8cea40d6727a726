// Benchmark: reserves 256 pages lazily and writes to each once: 256 demand faults.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $256, %edi
    xor %esi, %esi
    SYSCALL SYS_ALLOCATE
    mov %rax, %rbx
    mov $256, %ecx
1:  movq $1, (%rbx)
    add $4096, %rbx
    dec %ecx
    jnz 1b
    xor %edi, %edi
    SYSCALL SYS_EXIT
