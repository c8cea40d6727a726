import Foundation

/// The terminal's raw mode, and its restoration on every way out: normal
/// exit, a fatal signal, or a crash. Raw mode hands every keystroke (Ctrl-C
/// included) to the guest; output still turns "\n" into "\r\n".
enum Terminal {
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var isRaw = false

    static func enterRawMode() {
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        isRaw = true
        for signal in [SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            Glibc.signal(signal, restoreAndReraise)
        }
        atexit { Terminal.restore() }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
    }

    /// Puts the terminal back as it was; safe to call more than once, and
    /// from a signal handler (tcsetattr is async-signal-safe).
    static func restore() {
        guard isRaw else { return }
        isRaw = false
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
    }
}

private func restoreAndReraise(_ signal: Int32) {
    Terminal.restore()
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}
