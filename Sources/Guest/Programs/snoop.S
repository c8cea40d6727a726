// Reads where lazy-touch, run before it, kept its data (0x1000): in this
// process nothing is there, so the read faults the process.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $0x1000, %eax
    mov (%rax), %rdi
    SYSCALL SYS_REPORT
    xor %edi, %edi
    SYSCALL SYS_EXIT
