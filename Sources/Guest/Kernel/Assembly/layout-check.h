// `field STRUCT, OFFSET`: the next datum of a structure laid out in
// assembly must start at OFFSET (asm-offsets.h) from STRUCT's label, or the
// build stops here, naming both.

#include "asm-offsets.h"

.macro field base, offset
    .if (. - \base) != \offset
        .error "the assembly's layout of \base disagrees with cpu.h at offset \offset"
    .endif
.endm

.macro end_of base, size
    .if (. - \base) != \size
        .error "the assembly's layout of \base is not the size cpu.h gives it"
    .endif
.endm
