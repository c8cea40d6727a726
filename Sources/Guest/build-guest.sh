#!/usr/bin/env bash
# Builds guest.elf, the Embedded Swift guest kernel: Swift for Protocol/,
# Memory/, Kernel/ and KernelTests/, assembly for Kernel/Assembly/, the user programs
# of Programs/ embedded, linked by guest.lds.S (preprocessed with Machine/include/machine.h).
# Usage: build-guest.sh TOOLCHAIN_BIN GUEST_SOURCES LINKER_SCRIPT OUTPUT_ELF WORK_DIR [VARIANT]
# VARIANT is `plain` (the default), `coverage` or `mutant:MUTATION`.
# With `coverage`, the Swift code is instrumented for source-based coverage
# (its counters live in guest memory, where the host reads them); the image
# is otherwise the same. A mutant kernel (scripts/mutate-flushes) leaves one
# thing out: MUTATION is a `KernelMutation` value as Swift spells it
# (`.skipFlush(.unmapPageCall)`, `.keepEmptyPageTables`), which the compiler
# checks against Kernel/TLB/FlushSite.swift.
set -euo pipefail
bin=$1 sources=$2 script=$3 output=$4 work=$5 variant=${6:-plain}
variant_flags=()
mutation_source=()
case "$variant" in
    plain) ;;
    coverage) variant_flags=(-profile-generate -profile-coverage-mapping) ;;
    mutant:*)
        mutation=${variant#mutant:}
        # A Swift expression goes into a source file: only names, dots and parentheses.
        [[ "$mutation" =~ ^[A-Za-z.()]{1,200}$ ]] || { printf 'build-guest.sh: not a KernelMutation: %q\n' "$mutation" >&2; exit 64; }
        mkdir -p "$work"
        echo "let activeMutation: KernelMutation = $mutation" > "$work/active-mutation.swift"
        variant_flags=(-D MUTATION)
        mutation_source=("$work/active-mutation.swift")
        ;;
    *) printf 'build-guest.sh: unknown variant %q (plain, coverage or mutant:MUTATION)\n' "$variant" >&2; exit 64 ;;
esac
mkdir -p "$work"

# Ring-0 code runs in KVM's instruction emulator here: no SSE/MMX, and no red
# zone, since an exception taken in ring 0 pushes its frame below RSP.
# -O, not -Osize: -Osize copies structs with an inline byte-wise `rep movsb`,
# which the emulator runs one byte per step; -O calls memcpy (runtime.S moves
# 8 bytes a step). Measured: boot to ready 8.5 ms with -O, 10.2 ms with -Osize.
target_flags=(-mno-sse -mno-sse2 -mno-mmx -msoft-float -mno-red-zone)
swift_target_flags=()
for flag in "${target_flags[@]}"; do swift_target_flags+=(-Xcc "$flag"); done

# User programs: each Programs/NAME.S links at 0x0 into NAME.elf, and every
# image is embedded in the kernel with a table the kernel looks names up in.
programs_asm="$work/programs.S"
{
    echo '    .section .rodata'
    echo '    .p2align 3'
    echo '    .globl program_table'
    echo 'program_table:'
    count=$(find "$sources/Programs" -name '*.S' | wc -l)
    echo "    .quad $count"
    index=0
    for program in $(find "$sources/Programs" -name '*.S' | LC_ALL=C sort); do
        echo "    .quad program_name_$index, program_name_end_$index - program_name_$index"
        echo "    .quad program_image_$index, program_image_end_$index - program_image_$index"
        echo "    .quad program_description_$index, program_description_end_$index - program_description_$index"
        index=$((index + 1))
    done
    index=0
    for program in $(find "$sources/Programs" -name '*.S' | LC_ALL=C sort); do
        name=$(basename "$program" .S)
        "$bin/clang" --target=x86_64-unknown-none-elf -ffreestanding "${target_flags[@]}" \
            -I "$sources/Programs" -I "$sources/Machine/include" -c "$program" -o "$work/program-$name.o"
        "$bin/ld.lld" -static -nostdlib --no-pie -z max-page-size=4096 -T "$sources/Programs/program.ld" \
            "$work/program-$name.o" -o "$work/program-$name.elf"
        # What the program does: the comment it starts with, which every program has.
        description=$(awk '/^\/\//{sub(/^\/\/ */, ""); printf "%s%s", (n++ ? " " : ""), $0; next} {exit}' "$program" | tr -d '\\"')
        echo "program_name_$index: .ascii \"$name\""
        echo "program_name_end_$index:"
        echo "program_description_$index: .ascii \"$description\""
        echo "program_description_end_$index:"
        echo '    .p2align 3'
        echo "program_image_$index: .incbin \"$work/program-$name.elf\""
        echo "program_image_end_$index:"
        index=$((index + 1))
    done
    echo '    .text'
    echo '    .globl program_table_get'
    echo 'program_table_get:'
    echo '    lea program_table(%rip), %rax'
    echo '    ret'
} > "$programs_asm"
"$bin/clang" --target=x86_64-unknown-none-elf -ffreestanding "${target_flags[@]}" -c "$programs_asm" -o "$work/programs.o"

mapfile -t swift_files < <(find "$sources/Protocol" "$sources/Memory" "$sources/Kernel" "$sources/KernelTests" -name '*.swift' 2>/dev/null | LC_ALL=C sort)

"$bin/swiftc" -target x86_64-unknown-none-elf \
    -enable-experimental-feature Embedded -wmo -O -g -Xfrontend -no-clang-module-breadcrumbs -parse-as-library \
    -Xfrontend -disable-stack-protector "${swift_target_flags[@]}" \
    -Xcc -fno-asynchronous-unwind-tables \
    -module-name GuestKernel -D GUEST_KERNEL ${variant_flags[@]+"${variant_flags[@]}"} \
    -import-bridging-header "$sources/Kernel/cpu.h" -Xcc -I -Xcc "$sources/Machine/include" \
    -c "${swift_files[@]}" ${mutation_source[@]+"${mutation_source[@]}"} -o "$work/kernel-swift.o"

# The offsets of cpu.h's structures that the assembly lays out by hand, from
# the compiler's own layout (Kernel/asm-offsets.c): each "->NAME VALUE" string
# of its assembly becomes a #define the assembly checks its fields against.
"$bin/clang" --target=x86_64-unknown-none-elf -ffreestanding "${target_flags[@]}" -I "$sources/Machine/include" \
    -S "$sources/Kernel/asm-offsets.c" -o "$work/asm-offsets.s"
{
    echo "// Generated by build-guest.sh from Kernel/asm-offsets.c: do not edit."
    sed -nE 's/^[[:space:]]*\.ascii[[:space:]]+"->([A-Z0-9_]+) ([0-9]+)"$/#define \1 \2/p' "$work/asm-offsets.s"
} > "$work/asm-offsets.h"
grep -q KERNEL_LAYOUT_SIZE "$work/asm-offsets.h" || { echo "build-guest.sh: no offsets in $work/asm-offsets.s" >&2; exit 1; }

# The kernel's assembly, a file a job (Kernel/Assembly/): entry, CPU tables,
# trap stubs, the fast fault path, ring 3, probes, the runtime.
asm_objects=()
for asm in $(find "$sources/Kernel/Assembly" -name '*.S' | LC_ALL=C sort); do
    object="$work/asm-$(basename "$asm" .S).o"
    "$bin/clang" --target=x86_64-unknown-none-elf -ffreestanding -g "${target_flags[@]}" \
        -I "$sources/Machine/include" -I "$work" -c "$asm" -o "$object"
    asm_objects+=("$object")
done

# The linker script takes its addresses from machine.h, through the preprocessor.
"$bin/clang" -E -P -undef -x c -I "$sources/Machine/include" "$script" -o "$work/guest.ld"
"$bin/ld.lld" -static -nostdlib --no-pie -z max-page-size=4096 -T "$work/guest.ld" \
    "${asm_objects[@]}" "$work/programs.o" "$work/kernel-swift.o" -o "$output.tmp"
# The DWARF stays (it is not loaded into the guest). Its address index
# (.debug_aranges) covers one compile unit only, and with .debug_names
# present gdb trusts it and finds no line for any address: without both,
# gdb indexes every unit itself. llvm-symbolizer needs neither.
# -no-clang-module-breadcrumbs above keeps out references to the
# compiler's module cache, which gdb would look for and complain about.
"$bin/llvm-objcopy" --remove-section=.debug_aranges --remove-section=.debug_names "$output.tmp"
mv "$output.tmp" "$output"
