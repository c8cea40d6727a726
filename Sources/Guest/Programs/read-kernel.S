// Reads the kernel image (supervisor-only).
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    movabs $0x00007fff80109000, %rax
    mov (%rax), %rdi
    SYSCALL SYS_REPORT
    xor %edi, %edi
    SYSCALL SYS_EXIT
