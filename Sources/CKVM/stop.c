// Stopping a vCPU from another thread: a flag, immediate_exit and a signal.

#define _GNU_SOURCE
#include "CKVM.h"
#include "interrupting-signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

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

static void stop_install(void) { ckvm_install_interrupting(stop_signal(), stop_handler); }

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
