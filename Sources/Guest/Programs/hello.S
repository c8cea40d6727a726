// Writes a line to the console and exits with status 7.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    lea message(%rip), %rdi
    mov $(message_end - message), %esi
    SYSCALL SYS_WRITE
    mov $7, %edi
    SYSCALL SYS_EXIT

    .section .rodata
message:
    .ascii "hello from a user program at 0x0\n"
message_end:
