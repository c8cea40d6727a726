#define _GNU_SOURCE
#include "CKVMChild.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The child may only call async-signal-safe functions: the parent has threads.
pid_t ckvm_spawn_tied(const char *path, char *const argv[], int in_fd, int out_fd, int err_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        return -error;
    }
    if (pid == 0) {
        int error = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) error = errno;
        // The parent may have ended between fork and prctl: then nobody waits for us.
        if (error == 0 && getppid() != parent) _exit(127);
        if (error == 0 && setpgid(0, 0) != 0) error = errno;
        sigset_t none;
        sigemptyset(&none);
        if (error == 0) sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction fallback = { .sa_handler = SIG_DFL };
        for (int signal = 1; error == 0 && signal < NSIG; signal++) {
            if (signal != SIGKILL && signal != SIGSTOP) sigaction(signal, &fallback, NULL);
        }
        int fds[3] = { in_fd, out_fd, err_fd };
        // Lift each descriptor above 2 first, so that dup2 onto 0-2 cannot clobber another.
        for (int i = 0; error == 0 && i < 3; i++) {
            fds[i] = fcntl(fds[i], F_DUPFD, 3);
            if (fds[i] < 0) error = errno;
        }
        for (int i = 0; error == 0 && i < 3; i++) {
            if (dup2(fds[i], i) < 0) error = errno;
        }
        if (error == 0) {
            // Every other descriptor closes at the exec (the report pipe's is close-on-exec already).
            if (syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0) {
                for (int fd = 3; fd < 4096; fd++) if (fd != report[1]) fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
            execv(path, argv);
            error = errno;
        }
        ssize_t ignored = write(report[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int childError = 0;
    ssize_t count;
    do { count = read(report[0], &childError, sizeof childError); } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof childError) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -childError;
    }
    return pid;
}

int ckvm_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

// ---- children killed on a crash ---------------------------------------------

#define CHILD_SLOTS 256
static _Atomic pid_t children[CHILD_SLOTS];

int ckvm_child_register(pid_t pid) {
    for (int i = 0; i < CHILD_SLOTS; i++) {
        pid_t empty = 0;
        if (atomic_compare_exchange_strong(&children[i], &empty, pid)) return 0;
    }
    return -1;
}

void ckvm_child_unregister(pid_t pid) {
    for (int i = 0; i < CHILD_SLOTS; i++) {
        pid_t expected = pid;
        if (atomic_compare_exchange_strong(&children[i], &expected, 0)) return;
    }
}

static const int crash_signals[] = { SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS };
#define CRASH_SIGNAL_COUNT (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction previous[CRASH_SIGNAL_COUNT];

static void kill_children_then_chain(int signal, siginfo_t *info, void *context) {
    for (int i = 0; i < CHILD_SLOTS; i++) {
        pid_t pid = atomic_load(&children[i]);
        if (pid > 0) kill(pid, SIGKILL);
    }
    for (unsigned i = 0; i < CRASH_SIGNAL_COUNT; i++) {
        if (crash_signals[i] != signal) continue;
        struct sigaction *before = &previous[i];
        if (before->sa_flags & SA_SIGINFO) {
            if (before->sa_sigaction) { before->sa_sigaction(signal, info, context); return; }
        } else if (before->sa_handler != SIG_DFL && before->sa_handler != SIG_IGN && before->sa_handler) {
            before->sa_handler(signal);
            return;
        }
        // The default action, as if nothing had been installed.
        sigaction(signal, before, NULL);
        raise(signal);
        return;
    }
}

void ckvm_child_install_crash_handlers(void) {
    static atomic_flag installed = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&installed)) return;
    for (unsigned i = 0; i < CRASH_SIGNAL_COUNT; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = kill_children_then_chain;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        sigaction(crash_signals[i], &action, &previous[i]);
    }
}
