// The ioctl numbers and capabilities Swift cannot spell, and the calls themselves.

#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <sys/ioctl.h>

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
const unsigned long ckvm_create_irqchip = KVM_CREATE_IRQCHIP;
const unsigned long ckvm_get_irqchip = KVM_GET_IRQCHIP;
const unsigned long ckvm_set_irqchip = KVM_SET_IRQCHIP;
const unsigned long ckvm_get_lapic = KVM_GET_LAPIC;
const unsigned long ckvm_set_lapic = KVM_SET_LAPIC;

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
