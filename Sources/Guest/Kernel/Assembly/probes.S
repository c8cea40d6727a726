// Access probes: one access each, at a known instruction. When the access faults with a
// probe armed, the page-fault path resumes at probe_resume with RAX = 1.
    .text
    .globl probe_read
probe_read:                             // (address rdi) -> 0, or 1 if it faulted
    xor %eax, %eax
probe_read_access:
    movb (%rdi), %cl
    ret

    .globl probe_write
probe_write:                            // writes `ret` (0xC3), which the page already holds
    xor %eax, %eax
probe_write_access:
    movb $0xC3, (%rdi)
    ret

    .globl probe_fetch
probe_fetch:                            // calls the page, whose first byte is `ret`
    xor %eax, %eax
    call *%rdi
    ret

    .globl probe_resume
probe_resume:
    mov $1, %eax
    ret

    .section .rodata
    .p2align 3
    .globl probe_layout
probe_layout:
    .quad probe_read_access
    .quad probe_write_access
    .quad probe_resume

    .text
    .globl probe_layout_get
probe_layout_get:
    lea probe_layout(%rip), %rax
    ret
