// Writes to an I/O port from ring 3 (IOPL 0): a general-protection fault.
#include "syscalls.h"
    .section .text.entry, "ax"
    .globl _start
_start:
    mov $0x55, %al
    out %al, $0x80
    xor %edi, %edi
    SYSCALL SYS_EXIT
