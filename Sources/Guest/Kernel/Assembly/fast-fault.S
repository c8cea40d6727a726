// The demand-paging fast path: the #PF stub, and the state the page trap
// arms it with (FastFaults.swift).

#include "machine.h"
#include "layout-check.h"

// A user page fault on an empty entry inside the lazy reservation the page
// trap last resolved, whose page table exists, is resolved here: a
// known-zero frame from the cache the page trap keeps filled goes into the
// entry (the page table's use count in its PD entry was marked stale when
// the path was armed), and the process resumes. About 60 instructions instead of the page trap's ~1000;
// ring 0 runs about 1.5 million instructions a second here. Anything else
// (kernel mode, protection, reserved bit, fetch, another range, no table,
// an empty cache) takes the ordinary path to the page trap.
    .text
    .globl trap_stub_14
trap_stub_14:
    testb $PF_USER, (%rsp)              // error code: from ring 3?
    jz 9f
    testb $(PF_PROTECTION | PF_RESERVED_BIT | PF_FETCH), (%rsp)
    jnz 9f
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    mov %cr2, %rax
    cmp fast_start(%rip), %rax
    jb 8f
    cmp fast_end(%rip), %rax
    jae 8f
    testb $PF_WRITE, 64(%rsp)           // a write needs a writable range
    jz 1f
    testb $PAGE_WRITABLE, fast_flags(%rip)
    jz 8f
1:  cmpq $0, frame_cache_count(%rip)
    je 8f
    movabs $DIRECT_MAP_BASE, %rdx
    movabs $PAGE_ADDRESS_MASK, %rdi
    mov fast_root(%rip), %rbx           // the PML4 (not read from CR3: that traps here)
    mov %rax, %rcx
    shr $39, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx
    mov (%rdx, %rbx), %rbx
    test $PAGE_PRESENT, %bl
    jz 8f
    and %rdi, %rbx                      // the PDPT
    mov %rax, %rcx
    shr $30, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx
    mov (%rdx, %rbx), %rbx
    mov %ebx, %ecx
    and $(PAGE_PRESENT | PAGE_HUGE), %ecx
    cmp $PAGE_PRESENT, %ecx                        // present, not a 1 GiB page
    jne 8f
    and %rdi, %rbx                      // the PD
    mov %rax, %rcx
    shr $21, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %r8            // the PD entry, physical
    mov (%rdx, %r8), %r9
    mov %r9d, %ecx
    and $(PAGE_PRESENT | PAGE_HUGE), %ecx
    cmp $PAGE_PRESENT, %ecx                        // present, not a 2 MiB page
    jne 8f
    // The PT's use count lives in its PD entry. Rather than write that entry
    // on every fault too, the page trap marks the count stale when it arms
    // the fast path (the Pagemap recounts before it uses it); tables not so
    // marked go the slow way.
    bt $62, %r9
    jnc 8f
    mov %r9, %rbx
    and %rdi, %rbx                      // the PT
    mov %rax, %rcx
    shr $12, %rcx
    and $511, %ecx
    lea (%rbx, %rcx, 8), %rbx           // the leaf entry, physical
    cmpq $0, (%rdx, %rbx)               // empty: neither present nor lazily marked
    jne 8f
    mov frame_cache_count(%rip), %rsi
    dec %rsi
    mov %rsi, frame_cache_count(%rip)
    lea frame_cache(%rip), %rcx
    mov (%rcx, %rsi, 8), %rcx
    or fast_flags(%rip), %rcx
    mov %rcx, (%rdx, %rbx)              // map: not present before, so nothing to invalidate
    incq fast_count(%rip)
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $8, %rsp                        // the error code
    iretq
8:  pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
9:  pushq $14
    jmp trap_common

    .data
    .p2align 6
    .globl fast_fault_state
fast_fault_state:
    field fast_fault_state, FAST_FAULT_START
fast_start:
    .quad 0
    field fast_fault_state, FAST_FAULT_END
fast_end:
    .quad 0
    field fast_fault_state, FAST_FAULT_FLAGS
fast_flags:
    .quad 0
    field fast_fault_state, FAST_FAULT_COUNT
fast_count:
    .quad 0
    field fast_fault_state, FAST_FAULT_CACHE_COUNT
frame_cache_count:
    .quad 0
    field fast_fault_state, FAST_FAULT_ROOT
fast_root:
    .quad 0
    field fast_fault_state, FAST_FAULT_CACHE
frame_cache:
    .fill FAST_FAULT_CACHE_CAPACITY, 8, 0
    end_of fast_fault_state, FAST_FAULT_STATE_SIZE
    .text
    .globl fast_fault_state_get
fast_fault_state_get:
    lea fast_fault_state(%rip), %rax
    ret
