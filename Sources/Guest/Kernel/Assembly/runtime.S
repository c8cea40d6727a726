// The C runtime calls Embedded Swift makes: memset, memcpy, memmove and
// memcmp (a derived == of a struct of plain words becomes one).
// Ring-0 code here runs in KVM's instruction emulator, which charges per
// iteration of a string instruction, so the bulk moves 8 bytes at a time
// (rep stosq / rep movsq) and only the tail moves bytes.

    .text
    .globl memset
memset:                                 // (dst rdi, byte esi, count rdx) -> dst
    mov %rdi, %r8
    movzbl %sil, %eax
    movabs $0x0101010101010101, %rcx
    imul %rcx, %rax                     // the byte in all eight lanes
    mov %rdx, %rcx
    shr $3, %rcx
    rep stosq
    mov %rdx, %rcx
    and $7, %rcx
    rep stosb
    mov %r8, %rax
    ret

    .globl memcpy
memcpy:                                 // (dst rdi, src rsi, count rdx) -> dst
    mov %rdi, %rax
    mov %rdx, %rcx
    shr $3, %rcx
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
    rep movsb
    ret

    .globl memmove
memmove:                                // (dst rdi, src rsi, count rdx) -> dst
    mov %rdi, %rax
    mov %rdi, %rcx
    sub %rsi, %rcx
    cmp %rdx, %rcx                      // dst - src >= count (unsigned): a forward copy is safe
    jae memcpy
    // dst lies inside [src, src + count): copy backwards, bytes, direction flag set.
    mov %rdx, %rcx
    lea -1(%rsi, %rdx), %rsi
    lea -1(%rdi, %rdx), %rdi
    std
    rep movsb
    cld
    ret

    .globl memcmp
memcmp:                                 // (a rdi, b rsi, count rdx) -> a[i] - b[i] at the first difference, or 0
    xor %eax, %eax
    mov %rdx, %rcx
    test %rcx, %rcx
    jz 1f
    repe cmpsb
    je 1f                               // ran out of bytes, all equal
    movzbl -1(%rdi), %eax
    movzbl -1(%rsi), %ecx
    sub %ecx, %eax
1:  ret

// The allocator entry points Embedded Swift calls, implemented in
// KernelHeap.swift (Swift may not define these runtime names itself).
    .globl posix_memalign
posix_memalign:
    jmp kernel_heap_posix_memalign

    .globl free
free:
    jmp kernel_heap_free

// arc4random_buf(buffer rdi, count rsi): the Swift standard library asks for
// it to seed its hashing (Set, Dictionary, Hashable). The kernel has no
// entropy source it trusts, so this is a SplitMix64 stream seeded from the
// time-stamp counter: different per boot, not for cryptography.
    .globl arc4random_buf
arc4random_buf:
    rdtsc
    shl $32, %rdx
    or %rdx, %rax                       // state
    movabs $0x9E3779B97F4A7C15, %r8
    movabs $0xBF58476D1CE4E5B9, %r9
    movabs $0x94D049BB133111EB, %r10
1:  test %rsi, %rsi
    jz 3f
    add %r8, %rax
    mov %rax, %rcx
    mov %rcx, %rdx
    shr $30, %rdx
    xor %rdx, %rcx
    imul %r9, %rcx
    mov %rcx, %rdx
    shr $27, %rdx
    xor %rdx, %rcx
    imul %r10, %rcx
    mov %rcx, %rdx
    shr $31, %rdx
    xor %rdx, %rcx                      // one 64-bit output
    mov $8, %edx
2:  test %rsi, %rsi
    jz 3f
    mov %cl, (%rdi)
    shr $8, %rcx
    inc %rdi
    dec %rsi
    dec %edx
    jnz 2b
    jmp 1b
3:  ret
