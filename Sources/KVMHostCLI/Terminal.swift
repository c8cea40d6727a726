import Foundation

/// The terminal's raw mode, and its restoration on every way out: normal
/// exit, a fatal signal, or a crash. Raw mode hands every keystroke (Ctrl-C
/// included) to the guest; output still turns "\n" into "\r\n".
enum Terminal {
    /// The settings to restore, on the heap at termios' full C size. As a
    /// Swift global it was emitted 57 bytes long, and tcgetattr writes 60:
    /// AddressSanitizer caught the overrun into the next global.
    nonisolated(unsafe) private static let saved: UnsafeMutablePointer<termios> = {
        let settings = UnsafeMutablePointer<termios>.allocate(capacity: 1)
        settings.initialize(to: termios())
        return settings
    }()
    nonisolated(unsafe) private static var isRaw = false

    static func enterRawMode() {
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, saved) == 0 else { return }
        var raw = saved.pointee
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
        tcsetattr(STDIN_FILENO, TCSAFLUSH, saved)
    }
}

private func restoreAndReraise(_ signal: Int32) {
    Terminal.restore()
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}
