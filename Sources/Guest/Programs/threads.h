// What the programs of several threads share. A thread starts with its
// number in RDI and the thread count in RSI.
#include "syscalls.h"

// Spins until the quadword `var` is nonzero, and leaves it in `reg`.
.macro AWAIT_NONZERO var, reg
.Lawait\@:
    mov \var(%rip), \reg
    test \reg, \reg
    jnz .Lawaited\@
    pause
    jmp .Lawait\@
.Lawaited\@:
.endm

// This thread is done: it counts itself in the quadword `done`; a thread
// other than 0 (`number`) exits with 0, thread 0 goes on once all `count` are.
.macro THREADS_JOIN done, number, count
    lock incq \done(%rip)
    test \number, \number
    jz .Ljoin\@
    xor %edi, %edi
    SYSCALL SYS_EXIT
.Ljoin\@:
    cmp \done(%rip), \count
    je .Ljoined\@
    pause
    jmp .Ljoin\@
.Ljoined\@:
.endm
