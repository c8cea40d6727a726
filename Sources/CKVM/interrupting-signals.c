// Signal handlers that interrupt KVM_RUN, for the watchdog and for stops.

#define _GNU_SOURCE
#include "CKVM.h"
#include "interrupting-signals.h"

#include <signal.h>
#include <string.h>

// A handler whose signal interrupts KVM_RUN: no SA_RESTART, so KVM_RUN
// returns EINTR.
void ckvm_install_interrupting(int signal, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(signal, &action, NULL);
}
