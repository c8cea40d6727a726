#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const unsigned long ckvm_get_api_version = KVM_GET_API_VERSION;
const unsigned long ckvm_create_vm = KVM_CREATE_VM;
const unsigned long ckvm_check_extension = KVM_CHECK_EXTENSION;
const unsigned long ckvm_get_vcpu_mmap_size = KVM_GET_VCPU_MMAP_SIZE;
const unsigned long ckvm_create_vcpu = KVM_CREATE_VCPU;
const unsigned long ckvm_set_user_memory_region = KVM_SET_USER_MEMORY_REGION;
const unsigned long ckvm_run = KVM_RUN;
const unsigned long ckvm_get_regs = KVM_GET_REGS;
const unsigned long ckvm_set_regs = KVM_SET_REGS;
const unsigned long ckvm_get_sregs = KVM_GET_SREGS;
const unsigned long ckvm_set_sregs = KVM_SET_SREGS;
const unsigned long ckvm_get_xcrs = KVM_GET_XCRS;
const unsigned long ckvm_set_xcrs = KVM_SET_XCRS;
const unsigned long ckvm_get_debugregs = KVM_GET_DEBUGREGS;
const unsigned long ckvm_set_debugregs = KVM_SET_DEBUGREGS;
const unsigned long ckvm_get_vcpu_events = KVM_GET_VCPU_EVENTS;
const unsigned long ckvm_set_vcpu_events = KVM_SET_VCPU_EVENTS;
const unsigned long ckvm_get_mp_state = KVM_GET_MP_STATE;
const unsigned long ckvm_set_mp_state = KVM_SET_MP_STATE;

const int ckvm_cap_user_memory = KVM_CAP_USER_MEMORY;
const int ckvm_cap_immediate_exit = KVM_CAP_IMMEDIATE_EXIT;
const int ckvm_cap_ext_cpuid = KVM_CAP_EXT_CPUID;
const int ckvm_api_version = KVM_API_VERSION;
const int ckvm_cap_xsave = KVM_CAP_XSAVE;
const int ckvm_cap_xcrs = KVM_CAP_XCRS;
const int ckvm_cap_debugregs = KVM_CAP_DEBUGREGS;
const int ckvm_cap_vcpu_events = KVM_CAP_VCPU_EVENTS;
const uint32_t ckvm_mem_log_dirty_pages = KVM_MEM_LOG_DIRTY_PAGES;

int ckvm_ioctl(int fd, unsigned long request) { return ioctl(fd, request, 0); }
int ckvm_ioctl_int(int fd, unsigned long request, unsigned long argument) { return ioctl(fd, request, argument); }
int ckvm_ioctl_pointer(int fd, unsigned long request, void *argument) { return ioctl(fd, request, argument); }
int ckvm_errno(void) { return errno; }

// KVM_GET_SUPPORTED_CPUID answers the same for the whole system and costs
// about 0.3 ms a call here, so the first answer is kept for every later vCPU.
static pthread_mutex_t cpuid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_cpuid2 *cpuid_cache;

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd) {
    pthread_mutex_lock(&cpuid_lock);
    for (unsigned entries = 256; !cpuid_cache && entries <= 4096; entries *= 2) {
        size_t size = sizeof(struct kvm_cpuid2) + entries * sizeof(struct kvm_cpuid_entry2);
        struct kvm_cpuid2 *cpuid = calloc(1, size);
        if (!cpuid) { errno = ENOMEM; break; }
        cpuid->nent = entries;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
            cpuid_cache = cpuid;
            break;
        }
        int saved = errno;
        free(cpuid);
        errno = saved;
        if (saved != E2BIG) break;
    }
    struct kvm_cpuid2 *result = cpuid_cache;
    pthread_mutex_unlock(&cpuid_lock);
    return result;
}

int ckvm_set_supported_cpuid(int kvm_fd, int vcpu_fd) {
    struct kvm_cpuid2 *cpuid = supported_cpuid(kvm_fd);
    if (!cpuid) return -1;
    return ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
}

static uint32_t *cpuid_register(struct kvm_cpuid_entry2 *entry, uint32_t reg) {
    switch (reg) {
    case 0: return &entry->eax;
    case 1: return &entry->ebx;
    case 2: return &entry->ecx;
    default: return &entry->edx;
    }
}

static struct kvm_cpuid_entry2 *cpuid_entry(struct kvm_cpuid2 *cpuid, uint32_t leaf, uint32_t subleaf) {
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *entry = &cpuid->entries[i];
        if (entry->function != leaf) continue;
        if ((entry->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && entry->index != subleaf) continue;
        return entry;
    }
    return NULL;
}

int ckvm_supported_cpuid_bit(int kvm_fd, uint32_t leaf, uint32_t subleaf, uint32_t reg, uint32_t bit) {
    struct kvm_cpuid2 *cpuid = supported_cpuid(kvm_fd);
    if (!cpuid) return -1;
    struct kvm_cpuid_entry2 *entry = cpuid_entry(cpuid, leaf, subleaf);
    return entry && (*cpuid_register(entry, reg) >> (bit & 31) & 1) ? 1 : 0;
}

int ckvm_set_edited_cpuid(int kvm_fd, int vcpu_fd, const struct ckvm_cpuid_bit *edits, uint32_t count) {
    struct kvm_cpuid2 *supported = supported_cpuid(kvm_fd);
    if (!supported) return -1;
    size_t size = sizeof(struct kvm_cpuid2) + supported->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = malloc(size);
    if (!cpuid) { errno = ENOMEM; return -1; }
    memcpy(cpuid, supported, size);
    for (uint32_t i = 0; i < count; i++) {
        struct kvm_cpuid_entry2 *entry = cpuid_entry(cpuid, edits[i].leaf, edits[i].subleaf);
        if (!entry) continue;
        uint32_t *value = cpuid_register(entry, edits[i].reg);
        uint32_t mask = 1u << (edits[i].bit & 31);
        *value = edits[i].value ? (*value | mask) : (*value & ~mask);
    }
    int result = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
    int saved = errno;
    free(cpuid);
    errno = saved;
    return result;
}

_Static_assert(sizeof(((struct kvm_xsave *)0)->region) == ckvm_xsave_size, "the legacy XSAVE area is 4 KiB");

int ckvm_get_xsave(int vcpu_fd, void *area) {
    struct kvm_xsave xsave;
    if (ioctl(vcpu_fd, KVM_GET_XSAVE, &xsave) != 0) return -1;
    memcpy(area, xsave.region, ckvm_xsave_size);
    return 0;
}

int ckvm_set_xsave(int vcpu_fd, const void *area) {
    struct kvm_xsave xsave;
    memcpy(xsave.region, area, ckvm_xsave_size);
    return ioctl(vcpu_fd, KVM_SET_XSAVE, &xsave);
}

static struct kvm_msrs *msr_list(const uint32_t *indices, const uint64_t *values, uint32_t count) {
    struct kvm_msrs *msrs = calloc(1, sizeof(struct kvm_msrs) + count * sizeof(struct kvm_msr_entry));
    if (!msrs) { errno = ENOMEM; return NULL; }
    msrs->nmsrs = count;
    for (uint32_t i = 0; i < count; i++) {
        msrs->entries[i].index = indices[i];
        if (values) msrs->entries[i].data = values[i];
    }
    return msrs;
}

int ckvm_get_msrs(int vcpu_fd, const uint32_t *indices, uint64_t *values, uint32_t count) {
    struct kvm_msrs *msrs = msr_list(indices, NULL, count);
    if (!msrs) return -1;
    int read = ioctl(vcpu_fd, KVM_GET_MSRS, msrs);
    for (int i = 0; i < read; i++) values[i] = msrs->entries[i].data;
    int saved = errno;
    free(msrs);
    errno = saved;
    return read;
}

int ckvm_set_msrs(int vcpu_fd, const uint32_t *indices, const uint64_t *values, uint32_t count) {
    struct kvm_msrs *msrs = msr_list(indices, values, count);
    if (!msrs) return -1;
    int written = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
    int saved = errno;
    free(msrs);
    errno = saved;
    return written;
}

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

// ---- watchdog ---------------------------------------------------------------
static __thread struct kvm_run *volatile watchdog_run;
static __thread volatile sig_atomic_t watchdog_fired;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;

static int watchdog_signal(void) { return SIGRTMIN + 3; }

static void watchdog_handler(int signal) {
    (void)signal;
    struct kvm_run *run = watchdog_run;
    if (run) run->immediate_exit = 1;
    watchdog_fired = 1;
}

// A handler whose signal interrupts KVM_RUN: no SA_RESTART, so KVM_RUN
// returns EINTR.
static void install_interrupting(int signal, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(signal, &action, NULL);
}

static void watchdog_install(void) { install_interrupting(watchdog_signal(), watchdog_handler); }

int ckvm_watchdog_arm(struct kvm_run *run, int64_t nanoseconds, void **timer_out) {
    pthread_once(&watchdog_once, watchdog_install);
    // The signal must reach this thread even if it was blocked.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, watchdog_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    watchdog_fired = 0;
    run->immediate_exit = 0;
    watchdog_run = run;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = watchdog_signal();
    event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) < 0) return -1;
    if (nanoseconds < 1) nanoseconds = 1;
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = nanoseconds / 1000000000;
    spec.it_value.tv_nsec = nanoseconds % 1000000000;
    if (timer_settime(timer, 0, &spec, NULL) < 0) {
        int saved = errno;
        timer_delete(timer);
        errno = saved;
        return -1;
    }
    *timer_out = (void *)timer;
    return 0;
}

void ckvm_watchdog_disarm(void *timer) {
    timer_delete((timer_t)timer);
    watchdog_run = NULL;
}

int ckvm_watchdog_fired(void) { return watchdog_fired; }

// ---- stopping a vCPU from another thread --------------------------------------
struct ckvm_stop {
    struct kvm_run *run;
    atomic_int requested;
    atomic_int has_thread;
    pthread_t thread;
    pthread_mutex_t lock;
};

static pthread_once_t stop_once = PTHREAD_ONCE_INIT;
static int stop_signal(void) { return SIGRTMIN + 4; }
static void stop_handler(int signal) { (void)signal; }  // only to interrupt KVM_RUN

static void stop_install(void) { install_interrupting(stop_signal(), stop_handler); }

struct ckvm_stop *ckvm_stop_create(struct kvm_run *run) {
    pthread_once(&stop_once, stop_install);
    struct ckvm_stop *stop = calloc(1, sizeof *stop);
    if (!stop) return NULL;
    stop->run = run;
    pthread_mutex_init(&stop->lock, NULL);
    return stop;
}

void ckvm_stop_destroy(struct ckvm_stop *stop) {
    if (!stop) return;
    pthread_mutex_destroy(&stop->lock);
    free(stop);
}

void ckvm_stop_enter(struct ckvm_stop *stop) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, stop_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    pthread_mutex_lock(&stop->lock);
    stop->thread = pthread_self();
    atomic_store(&stop->has_thread, 1);
    if (atomic_load(&stop->requested) && stop->run) stop->run->immediate_exit = 1;
    pthread_mutex_unlock(&stop->lock);
}

void ckvm_stop_leave(struct ckvm_stop *stop) {
    pthread_mutex_lock(&stop->lock);
    atomic_store(&stop->has_thread, 0);
    pthread_mutex_unlock(&stop->lock);
}

void ckvm_stop_request(struct ckvm_stop *stop) {
    atomic_store(&stop->requested, 1);
    ckvm_stop_kick(stop);
}

void ckvm_stop_kick(struct ckvm_stop *stop) {
    // The lock keeps the vCPU thread from leaving, and kvm_run from being
    // unmapped, while this touches them. Enter, leave and detach hold it for
    // a few instructions, around no KVM_RUN; when it is busy, the flag alone
    // is enough: enter reads it, and `run` reads it before every entry.
    if (pthread_mutex_trylock(&stop->lock) != 0) return;
    if (stop->run) stop->run->immediate_exit = 1;
    if (atomic_load(&stop->has_thread)) pthread_kill(stop->thread, stop_signal());
    pthread_mutex_unlock(&stop->lock);
}

void ckvm_stop_detach(struct ckvm_stop *stop) {
    pthread_mutex_lock(&stop->lock);
    stop->run = NULL;
    atomic_store(&stop->has_thread, 0);
    pthread_mutex_unlock(&stop->lock);
}

int ckvm_stop_requested(const struct ckvm_stop *stop) { return atomic_load(&stop->requested); }
