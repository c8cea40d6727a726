// Benchmark: 256 empty exception round trips (int3; the kernel only returns).
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $256, %ecx
1:  int3
    dec %ecx
    jnz 1b
    xor %edi, %edi
    SYSCALL SYS_EXIT
