// Shared by the watchdog and stops: not part of the module's interface.
#pragma once

void ckvm_install_interrupting(int signal, void (*handler)(int));
