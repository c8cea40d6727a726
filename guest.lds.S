/* The guest kernel's layout, preprocessed by build-guest.sh with
 * Sources/Guest/Machine/include/machine.h, which defines the addresses.
 * The 32-bit PVH entry and the bootstrap tables
 * are linked at their physical addresses from 1 MiB; everything else runs in
 * the kernel region at KERNEL_VIRTUAL_BASE + physical (PML4 slot 255, below
 * 2^47) and is loaded right behind them (p_paddr = virtual - base). */

ENTRY(pvh_start32)

#include "machine.h"

PHDRS {
    boot   PT_LOAD FLAGS(7);
    text   PT_LOAD FLAGS(5);
    rodata PT_LOAD FLAGS(4);
    data   PT_LOAD FLAGS(6);
    note   PT_NOTE FLAGS(4);
}

SECTIONS {
    . = KERNEL_PHYSICAL_START;
    __image_physical_start = .;
    .note.pvh : { KEEP(*(.note.pvh)) } :boot :note
    .boot.text : { *(.boot.text) } :boot
    .boot.data : ALIGN(4096) { *(.boot.data) } :boot

    . = ALIGN(4096) + KERNEL_VIRTUAL_BASE;
    .text : AT(ADDR(.text) - KERNEL_VIRTUAL_BASE) { __text_start = .; *(.text .text.*) __text_end = .; } :text

    . = ALIGN(4096);
    .rodata : AT(ADDR(.rodata) - KERNEL_VIRTUAL_BASE) {
        __rodata_start = .;
        *(.rodata .rodata.*)
        *(.swift_modhash* swift5_*)
    } :rodata
    /* The coverage build's sections (none in the plain build) keep their
     * names, so that the host finds them in the image: function names here,
     * read-only; counters and per-function records with the data. */
    __llvm_prf_names : AT(ADDR(__llvm_prf_names) - KERNEL_VIRTUAL_BASE) { *(__llvm_prf_names) } :rodata
    __rodata_end = .;

    . = ALIGN(4096);
    .data : AT(ADDR(.data) - KERNEL_VIRTUAL_BASE) { __data_start = .; *(.data .data.*) *(.got .got.*) } :data
    __llvm_prf_cnts : AT(ADDR(__llvm_prf_cnts) - KERNEL_VIRTUAL_BASE) { *(__llvm_prf_cnts) } :data
    __llvm_prf_data : AT(ADDR(__llvm_prf_data) - KERNEL_VIRTUAL_BASE) { *(__llvm_prf_data) } :data
    __llvm_prf_bits : AT(ADDR(__llvm_prf_bits) - KERNEL_VIRTUAL_BASE) { *(__llvm_prf_bits) } :data
    __llvm_prf_vnds : AT(ADDR(__llvm_prf_vnds) - KERNEL_VIRTUAL_BASE) { *(__llvm_prf_vnds) } :data
    .bss : AT(ADDR(.bss) - KERNEL_VIRTUAL_BASE) { *(.bss .bss.*) *(COMMON) } :data
    . = ALIGN(4096);
    __data_end = .;
    /* The kernel heap: 2 MiB aligned, mapped with one huge page. The gap
     * before it belongs to the image but is never mapped. */
    . = ALIGN(0x200000);  /* the address, not the section: a 2 MiB section alignment would pad the file */
    .kernel_heap (NOLOAD) : AT(ADDR(.kernel_heap) - KERNEL_VIRTUAL_BASE) { *(.kernel_heap) } :data
    . = ALIGN(4096);
    __image_physical_end = . - KERNEL_VIRTUAL_BASE;

    /DISCARD/ : { *(.comment) *(.eh_frame*) *(.note.GNU-stack) *(.llvm_addrsig) }
}
