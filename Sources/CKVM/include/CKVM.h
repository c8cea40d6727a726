// CKVM: what Swift cannot take from <linux/kvm.h> by itself. The ioctl request
// numbers are macros built from _IOW/_IOR (Swift imports no function-like
// macros), ioctl is variadic, and struct kvm_run keeps its exit data in an
// anonymous union. Everything here is a thin, typed door to the kernel's API.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>

#include "CKVMChild.h"

// ---- request numbers -----------------------------------------------------
extern const unsigned long ckvm_get_api_version;
extern const unsigned long ckvm_create_vm;
extern const unsigned long ckvm_check_extension;
extern const unsigned long ckvm_get_vcpu_mmap_size;
extern const unsigned long ckvm_create_vcpu;
extern const unsigned long ckvm_set_user_memory_region;
extern const unsigned long ckvm_run;
extern const unsigned long ckvm_get_regs;
extern const unsigned long ckvm_set_regs;
extern const unsigned long ckvm_get_sregs;
extern const unsigned long ckvm_set_sregs;
extern const unsigned long ckvm_get_xcrs;
extern const unsigned long ckvm_set_xcrs;
extern const unsigned long ckvm_get_debugregs;
extern const unsigned long ckvm_set_debugregs;
extern const unsigned long ckvm_get_vcpu_events;
extern const unsigned long ckvm_set_vcpu_events;
extern const unsigned long ckvm_get_mp_state;
extern const unsigned long ckvm_set_mp_state;
extern const unsigned long ckvm_create_irqchip;
// The in-kernel irqchip's state (PIC master, PIC slave, IOAPIC) and a vCPU's local APIC.
extern const unsigned long ckvm_get_irqchip;
extern const unsigned long ckvm_set_irqchip;
extern const unsigned long ckvm_get_lapic;
extern const unsigned long ckvm_set_lapic;

// ---- capabilities the host relies on -------------------------------------
extern const int ckvm_cap_user_memory;
extern const int ckvm_cap_immediate_exit;
extern const int ckvm_cap_ext_cpuid;
extern const int ckvm_api_version;
extern const int ckvm_cap_xsave;
extern const int ckvm_cap_xcrs;
extern const int ckvm_cap_debugregs;
extern const int ckvm_cap_vcpu_events;
extern const uint32_t ckvm_mem_log_dirty_pages;

// ---- ioctl without varargs -------------------------------------------------
// Each returns ioctl's result; on -1 the caller reads errno.
int ckvm_ioctl(int fd, unsigned long request);
int ckvm_ioctl_int(int fd, unsigned long request, unsigned long argument);
int ckvm_ioctl_pointer(int fd, unsigned long request, void *argument);
int ckvm_errno(void);

// Copies KVM_GET_SUPPORTED_CPUID (from the /dev/kvm fd) into the vCPU with
// KVM_SET_CPUID2. Returns 0, or -1 with errno set.
int ckvm_set_supported_cpuid(int kvm_fd, int vcpu_fd);

/// One CPUID bit: leaf, subleaf, register (0 EAX, 1 EBX, 2 ECX, 3 EDX), bit.
struct ckvm_cpuid_bit {
    uint32_t leaf;
    uint32_t subleaf;
    uint32_t reg;
    uint32_t bit;
    uint32_t value;
};

/// 1 when KVM_GET_SUPPORTED_CPUID has the bit set, 0 when not (or the leaf
/// is missing), -1 with errno when KVM cannot say.
int ckvm_supported_cpuid_bit(int kvm_fd, uint32_t leaf, uint32_t subleaf, uint32_t reg, uint32_t bit);

/// KVM_SET_CPUID2 with the supported CPUID, each of `edits` set to its
/// value first (a bit in a missing leaf is left alone), and the vCPU's
/// initial APIC ID `apic_id` where CPUID reports it (leaf 1 EBX[31:24],
/// leaf 0xB EDX): KVM leaves those to the VMM.
int ckvm_set_edited_cpuid(int kvm_fd, int vcpu_fd, const struct ckvm_cpuid_bit *edits, uint32_t count, uint32_t apic_id);

// ---- snapshots ---------------------------------------------------------------
// The legacy 4 KiB XSAVE area (struct kvm_xsave's region), as bytes.
enum { ckvm_xsave_size = 4096 };
int ckvm_get_xsave(int vcpu_fd, void *area);
int ckvm_set_xsave(int vcpu_fd, const void *area);
// KVM_GET_MSRS / KVM_SET_MSRS of `count` MSRs: returns how many were read or
// written (KVM stops at the first it refuses), or -1 with errno set.
int ckvm_get_msrs(int vcpu_fd, const uint32_t *indices, uint64_t *values, uint32_t count);
int ckvm_set_msrs(int vcpu_fd, const uint32_t *indices, const uint64_t *values, uint32_t count);
// An anonymous memory file (memfd_create, close-on-exec): a snapshot's
// memory, which a new VM maps copy-on-write. Returns a descriptor or -1.
int ckvm_memfd(const char *name);
// KVM_GET_DIRTY_LOG of `slot` into `bitmap` (a bit a page, in 64-bit words);
// KVM clears the log as it hands it over.
int ckvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap);
// KVM_RUN with immediate_exit set: completes an I/O exit still pending (the
// next KVM_RUN would finish it), so that the registers are the whole state.
// Returns 0 once KVM answered EINTR, or -1 with errno set.
int ckvm_complete_pending_io(int vcpu_fd, struct kvm_run *run);

// ---- kvm_run ------------------------------------------------------------------
struct ckvm_io {
    uint8_t direction;          // KVM_EXIT_IO_IN or KVM_EXIT_IO_OUT
    uint8_t size;               // 1, 2 or 4 bytes
    uint16_t port;
    uint32_t count;             // > 1 for rep ins/outs
    uint64_t data_offset;       // from the start of kvm_run
};
struct ckvm_mmio {
    uint64_t physical_address;
    uint32_t length;
    uint8_t is_write;
    uint8_t data[8];
};

uint32_t ckvm_run_exit_reason(const struct kvm_run *run);
struct ckvm_io ckvm_run_io(const struct kvm_run *run);
struct ckvm_mmio ckvm_run_mmio(const struct kvm_run *run);
uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run);
uint32_t ckvm_run_internal_suberror(const struct kvm_run *run);
uint64_t ckvm_run_system_event_type(const struct kvm_run *run);
struct kvm_debug_exit_arch ckvm_run_debug(const struct kvm_run *run);

// ---- guest debugging (KVM_SET_GUEST_DEBUG) ----------------------------------------
// `debug_registers` holds DR0-DR3, then DR7 (the others are KVM's).
// Returns ioctl's result; on -1 the caller reads errno.
int ckvm_set_guest_debug(int vcpu_fd, int enable, int single_step, const uint64_t debug_registers[5]);

// ---- the watchdog -----------------------------------------------------------
// A deadline on the calling thread's KVM_RUN: a one-shot POSIX timer sends a
// signal to this thread, whose handler sets immediate_exit on `run`. A signal
// inside KVM_RUN makes it return EINTR; one that lands between two KVM_RUN
// calls leaves immediate_exit set, so the next KVM_RUN returns EINTR at once.
// Either way the guest cannot keep the host thread.
int ckvm_watchdog_arm(struct kvm_run *run, int64_t nanoseconds, void **timer_out);
void ckvm_watchdog_disarm(void *timer);
// True when the armed watchdog fired on this thread.
int ckvm_watchdog_fired(void);

// ---- stopping a vCPU from another thread --------------------------------------
// A request to stop, sticky once made, and the thread in KVM_RUN to kick out
// of it: the kick sets immediate_exit and signals that thread, so KVM_RUN
// returns EINTR within microseconds however busy the guest is.
struct ckvm_stop;
struct ckvm_stop *ckvm_stop_create(struct kvm_run *run);
void ckvm_stop_destroy(struct ckvm_stop *stop);
// The thread about to run the vCPU, and its leaving.
void ckvm_stop_enter(struct ckvm_stop *stop);
void ckvm_stop_leave(struct ckvm_stop *stop);
// The vCPU is going away: later requests only set the flag.
void ckvm_stop_detach(struct ckvm_stop *stop);
// Any thread, any time.
void ckvm_stop_request(struct ckvm_stop *stop);
// Takes the vCPU out of KVM_RUN once, without the sticky request (a pause
// for the debugger): the next KVM_RUN enters the guest again.
void ckvm_stop_kick(struct ckvm_stop *stop);
int ckvm_stop_requested(const struct ckvm_stop *stop);

#endif
