// Loops in ring 3 until killed: where a debugger stops in user mode.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    jmp _start
