// What source-based coverage instrumentation needs of a runtime, and no more:
// the symbol that tells the compiler a profile runtime is linked. The
// counters are written by the instrumented code itself, in guest memory;
// the host reads them out when the guest stops (KVMHost/Coverage/), so
// nothing here writes a profile. The plain kernel carries the 4 bytes too.

    .data
    .p2align 2
    .globl __llvm_profile_runtime
__llvm_profile_runtime:
    .long 0
