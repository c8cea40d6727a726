// The watchdog: a per-thread timer whose signal ends KVM_RUN at a deadline.

#define _GNU_SOURCE
#include "CKVM.h"
#include "interrupting-signals.h"

#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static void watchdog_install(void) { ckvm_install_interrupting(watchdog_signal(), watchdog_handler); }

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
