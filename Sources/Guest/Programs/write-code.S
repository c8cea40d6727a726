// Writes over its own code at address 0 (mapped read + execute).
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    xor %eax, %eax
    movb $0x90, (%rax)
    xor %edi, %edi
    SYSCALL SYS_EXIT
