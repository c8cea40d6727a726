// Child processes that cannot outlive kvmhost (QEMU, the tcg backend).
#ifndef CKVM_CHILD_H
#define CKVM_CHILD_H

#include <sys/types.h>

// Starts `path` with `argv` (NULL-terminated) and stdin, stdout and stderr
// from the three descriptors, in a process group of its own (the terminal's
// signals reach kvmhost, which decides), with every other descriptor closed,
// every signal at its default action and none blocked. The kernel sends it
// SIGKILL when the calling thread ends (PR_SET_PDEATHSIG): call it from a
// thread that lives as long as the process. Returns the pid, or -errno: the
// fork's, or the exec's as the child saw it (ENOENT, EACCES, ...).
pid_t ckvm_spawn_tied(const char *path, char *const argv[], int in_fd, int out_fd, int err_fd);

// A descriptor that polls readable once `pid` has ended (pidfd_open), or -errno.
int ckvm_pidfd_open(pid_t pid);

#endif

// The children started so, by pid, so that a crash signal (SIGSEGV, SIGQUIT,
// SIGABRT, ...) kills them at once, before the runtime's own handler runs
// (which may wait at a terminal): register after the spawn, unregister once
// reaped. At most 256 at a time; a register past that returns -1.
int ckvm_child_register(pid_t pid);
void ckvm_child_unregister(pid_t pid);
// Installs the crash handlers once; each kills every registered child with
// SIGKILL, then hands the signal to the handler that was there before.
void ckvm_child_install_crash_handlers(void);
