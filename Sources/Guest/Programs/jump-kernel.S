// Jumps into the kernel's text.
#include "syscalls.h"
#include "machine.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    movabs $(KERNEL_VIRTUAL_BASE + 0x109000), %rax
    jmp *%rax
