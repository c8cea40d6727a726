// Loaded at 0x0: reads its own first byte at address 0 and reports it.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    jmp 1f                  // page 0 starts with this jump: 0xEB
1:  xor %edi, %edi
    movzbl (%rdi), %edi     // the byte at virtual address 0
    SYSCALL SYS_REPORT
    xor %edi, %edi
    SYSCALL SYS_EXIT
