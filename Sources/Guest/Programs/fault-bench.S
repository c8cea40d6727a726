// Benchmark: 256 page faults on an address that is never mapped, each one
// skipped by the kernel in the benchmark's mode (kvmbench): the empty
// page-fault round trip. Run from the monitor, the first fault kills it.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    movabs $0x60000000, %rbx
    mov $256, %ecx
1:  movb (%rbx), %al        // 2 bytes: 8A 03, which the kernel skips
    dec %ecx
    jnz 1b
    xor %edi, %edi
    SYSCALL SYS_EXIT
