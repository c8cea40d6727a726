// Recurses until its stack runs into the guard page below it.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    call _start
