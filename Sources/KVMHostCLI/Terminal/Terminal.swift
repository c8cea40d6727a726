import Foundation

/// The terminal's raw mode, and its restoration on every way out: normal
/// exit, an error, every catchable signal that ends the process, and a stop
/// (SIGTSTP, SIGTTIN, SIGTTOU), after which SIGCONT puts raw mode back. Raw
/// mode hands every keystroke (Ctrl-C and Ctrl-Z included) to the guest;
/// output still turns "\n" into "\r\n". SIGPIPE is ignored: a reader that
/// went away is a write error kvmhost reports (`OutputStream`).
enum Terminal {
    /// The settings to restore and the raw ones, on the heap at termios'
    /// full C size. As a Swift global it was emitted 57 bytes long, and
    /// tcgetattr writes 60: AddressSanitizer caught the overrun.
    nonisolated(unsafe) private static let saved = allocateSettings()
    nonisolated(unsafe) private static let raw = allocateSettings()
    /// 1 while kvmhost has the terminal raw; read by the signal handlers.
    nonisolated(unsafe) private static var isRaw: sig_atomic_t = 0

    /// Signals whose default action ends the process: each restores the
    /// terminal, then ends the process as the signal would have.
    static let terminatingSignals: [Int32] = [
        SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1, SIGSEGV, SIGUSR2,
        SIGALRM, SIGTERM, SIGSTKFLT, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS,
    ]
    /// Signals that stop the process: the terminal is restored while it is stopped.
    static let stoppingSignals: [Int32] = [SIGTSTP, SIGTTIN, SIGTTOU]

    private static func allocateSettings() -> UnsafeMutablePointer<termios> {
        let settings = UnsafeMutablePointer<termios>.allocate(capacity: 1)
        settings.initialize(to: termios())
        return settings
    }

    /// Ignores SIGPIPE, for every kvmhost run, terminal or not.
    static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    static func enterRawMode() {
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, saved) == 0 else { return }
        raw.pointee = saved.pointee
        cfmakeraw(raw)
        raw.pointee.c_oflag |= tcflag_t(OPOST | ONLCR)
        for signal in terminatingSignals { install(signal, handler: restoreAndReraise) }
        for signal in stoppingSignals { install(signal, handler: restoreAndStop) }
        install(SIGCONT, handler: reenterAfterContinue)
        atexit { Terminal.restore() }
        isRaw = 1
        tcsetattr(STDIN_FILENO, TCSAFLUSH, raw)
    }

    /// Puts the terminal back as it was; safe to call more than once, and
    /// from a signal handler (tcsetattr is async-signal-safe).
    static func restore() {
        guard isRaw == 1 else { return }
        isRaw = 0
        tcsetattr(STDIN_FILENO, TCSADRAIN, saved)
    }

    fileprivate static func restoreForStop() {
        guard isRaw == 1 else { return }
        tcsetattr(STDIN_FILENO, TCSADRAIN, saved)
    }

    /// Raw mode again after a stop, when kvmhost is in the foreground (a
    /// background process that set the terminal would be stopped again) or
    /// the terminal is not its controlling one (no job control applies).
    fileprivate static func reenterIfForeground() {
        let foreground = tcgetpgrp(STDIN_FILENO)
        guard isRaw == 1, foreground < 0 || foreground == getpgrp() else { return }
        tcsetattr(STDIN_FILENO, TCSADRAIN, raw)
    }

    private static func install(_ signal: Int32, handler: @convention(c) (Int32) -> Void) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(signal, &action, nil)
    }
}

private func restoreAndReraise(_ signal: Int32) {
    Terminal.restore()
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

/// Restores the terminal, stops as the signal asks, and on SIGCONT (which
/// returns from `raise` here) takes the terminal raw again.
private func restoreAndStop(_ signal: Int32) {
    let saved = errno
    Terminal.restoreForStop()
    Glibc.signal(signal, SIG_DFL)
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    raise(signal)
    // Continued.
    var action = sigaction()
    action.__sigaction_handler.sa_handler = restoreAndStop
    sigemptyset(&action.sa_mask)
    action.sa_flags = SA_RESTART
    sigaction(signal, &action, nil)
    Terminal.reenterIfForeground()
    errno = saved
}

/// SIGCONT after a stop kvmhost did not see (SIGSTOP): raw mode again.
private func reenterAfterContinue(_ signal: Int32) {
    let saved = errno
    Terminal.reenterIfForeground()
    errno = saved
}
