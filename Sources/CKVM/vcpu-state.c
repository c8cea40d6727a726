// vCPU state with variable-length or array layouts: XSAVE and MSRs.

#define _GNU_SOURCE
#include "CKVM.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

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
