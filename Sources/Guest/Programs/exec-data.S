// Jumps into its own data page (read-write, no-execute).
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    lea code_in_data(%rip), %rax
    jmp *%rax

    .data
code_in_data:
    .byte 0x90, 0x90, 0xEB, 0xFE      // nop; nop; jmp .
