// Reports where its first allocation went: the high-water mark starts right
// above the program, so this is 0x1000.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $1, %edi
    xor %esi, %esi
    SYSCALL SYS_ALLOCATE
    mov %rax, %rdi
    SYSCALL SYS_REPORT
    xor %edi, %edi
    SYSCALL SYS_EXIT
