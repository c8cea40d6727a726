// The system calls user programs make with `int $0x80`: number in RAX,
// arguments in RDI, RSI, RDX, result in RAX. Mirrors Kernel/Syscalls.swift.
#define SYS_EXIT     1   // (status)
#define SYS_WRITE    2   // (buffer, length): console text
#define SYS_ALLOCATE 3   // (pages, eager) -> address, or 0
#define SYS_FREE     4   // (address) -> 0, or -1
#define SYS_REPORT   5   // (value): one value to the host
#define SYS_PROTECT  6   // (address): the reservation there read-only -> 0, or -1

.macro SYSCALL number
    mov $\number, %eax
    int $0x80
.endm
