// CPUID for a vCPU: what KVM supports, kept once, and edited for CPU-feature variants.

#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

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

int ckvm_set_edited_cpuid(int kvm_fd, int vcpu_fd, const struct ckvm_cpuid_bit *edits, uint32_t count, uint32_t apic_id) {
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
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *entry = &cpuid->entries[i];
        if (entry->function == 1) entry->ebx = (entry->ebx & 0x00FFFFFF) | (apic_id << 24);
        if (entry->function == 0xB) entry->edx = apic_id;
    }
    int result = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
    int saved = errno;
    free(cpuid);
    errno = saved;
    return result;
}

_Static_assert(sizeof(((struct kvm_xsave *)0)->region) == ckvm_xsave_size, "the legacy XSAVE area is 4 KiB");
