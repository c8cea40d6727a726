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
