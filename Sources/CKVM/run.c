// Guest memory files, the dirty log, the kvm_run page's exits, guest debugging.

#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

int ckvm_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int ckvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap) {
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
    return ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log);
}

int ckvm_complete_pending_io(int vcpu_fd, struct kvm_run *run) {
    run->immediate_exit = 1;
    int result = ioctl(vcpu_fd, KVM_RUN, 0);
    int saved = errno;
    run->immediate_exit = 0;
    if (result == 0) { errno = EIO; return -1; }  // it ran the guest: not what was asked
    if (saved != EINTR) { errno = saved; return -1; }
    return 0;
}

uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }

struct ckvm_io ckvm_run_io(const struct kvm_run *run) {
    struct ckvm_io io = {
        .direction = run->io.direction, .size = run->io.size, .port = run->io.port,
        .count = run->io.count, .data_offset = run->io.data_offset,
    };
    return io;
}

struct ckvm_mmio ckvm_run_mmio(const struct kvm_run *run) {
    struct ckvm_mmio mmio = { .physical_address = run->mmio.phys_addr, .length = run->mmio.len, .is_write = run->mmio.is_write };
    memcpy(mmio.data, run->mmio.data, sizeof mmio.data);
    return mmio;
}

uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) { return run->fail_entry.hardware_entry_failure_reason; }
uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
uint64_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }
struct kvm_debug_exit_arch ckvm_run_debug(const struct kvm_run *run) { return run->debug.arch; }

int ckvm_set_guest_debug(int vcpu_fd, int enable, int single_step, const uint64_t debug_registers[5]) {
    struct kvm_guest_debug debug;
    memset(&debug, 0, sizeof debug);
    if (enable) {
        // Hardware breakpoints only: a planted int3 in ring 0 ends in
        // KVM_EXIT_INTERNAL_ERROR on this project's KVM.
        debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP | (single_step ? KVM_GUESTDBG_SINGLESTEP : 0);
        for (int index = 0; index < 4; index++) debug.arch.debugreg[index] = debug_registers[index];
        debug.arch.debugreg[7] = debug_registers[4];
    }
    return ioctl(vcpu_fd, KVM_SET_GUEST_DEBUG, &debug);
}
