// Touches an address that was never allocated to it.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    movabs $0x50000000, %rax
    movq $1, (%rax)
    xor %edi, %edi
    SYSCALL SYS_EXIT
