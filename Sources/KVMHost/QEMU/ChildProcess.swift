import CKVM
import Foundation
import Glibc

/// How a child process ended.
public enum ChildTermination: Equatable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case killed(signal: Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .killed(let signal):
            let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
            return "was killed by signal \(signal) (\(name))"
        }
    }
}

/// A child process that cannot outlive this one: the kernel kills it
/// (SIGKILL) when this process ends, however it ends (SIGKILL included),
/// because it is started from a thread that lives as long as the process
/// (`PR_SET_PDEATHSIG` follows the thread that forked). Its end is a
/// descriptor to poll (a pidfd), so a wait on its sockets sees it die at once.
final class ChildProcess {
    let pid: pid_t
    /// Polls readable once the child has ended.
    let endDescriptor: Int32
    private(set) var termination: ChildTermination?

    /// Starts `executable` with `arguments`; stdin and stdout are /dev/null,
    /// stderr is `errorDescriptor`. Throws the errno of the fork or the exec.
    init(executable: String, arguments: [String], errorDescriptor: Int32) throws(ChildProcessError) {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw .start(executable, errno: errno) }
        defer { close(null) }
        let result = Spawner.shared.spawn(executable: executable, arguments: arguments, input: null, output: null, error: errorDescriptor)
        guard result > 0 else { throw .start(executable, errno: -result) }
        pid = result
        // A crash of this process kills it at once, whatever handles the crash next.
        ckvm_child_install_crash_handlers()
        _ = ckvm_child_register(result)
        let descriptor = ckvm_pidfd_open(result)
        guard descriptor >= 0 else {
            ckvm_child_unregister(result)
            Glibc.kill(result, SIGKILL)
            var status: Int32 = 0
            while waitpid(result, &status, 0) < 0 && errno == EINTR {}
            throw .start(executable, errno: -descriptor)
        }
        endDescriptor = descriptor
    }

    deinit {
        kill()
        close(endDescriptor)
    }

    /// Whether it has ended, reaping it if so; never blocks.
    var hasEnded: Bool {
        if termination != nil { return true }
        var entry = pollfd(fd: endDescriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return false }
        reap()
        return true
    }

    /// Kills it (if it still runs) and waits for its end.
    func kill() {
        guard termination == nil else { return }
        Glibc.kill(pid, SIGKILL)
        reap()
    }

    /// Waits for its end and records how it ended.
    private func reap() {
        defer { ckvm_child_unregister(pid) }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        guard result == pid else {
            termination = .killed(signal: SIGKILL)
            return
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
        if status & 0x7F == 0 {
            termination = .exited(code: (status >> 8) & 0xFF)
        } else {
            termination = .killed(signal: status & 0x7F)
        }
    }

    /// The one thread every child is forked from: it never ends, so a
    /// child's parent-death signal comes only when the process ends.
    private final class Spawner: @unchecked Sendable {
        static let shared = Spawner()
        // `job` and `result` are guarded by `condition`.
        private let condition = NSCondition()
        private var job: (() -> pid_t)?
        private var result: pid_t?
        private let serial = NSLock()

        private init() {
            let thread = Thread { [unowned self] in serve() }
            thread.name = "kvmhost child spawner"
            thread.start()
        }

        func spawn(executable: String, arguments: [String], input: Int32, output: Int32, error: Int32) -> pid_t {
            serial.lock()
            defer { serial.unlock() }
            condition.lock()
            job = {
                var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
                defer { for pointer in argv { free(pointer) } }
                return ckvm_spawn_tied(executable, &argv, input, output, error)
            }
            condition.broadcast()
            var pid: pid_t?
            while pid == nil {
                condition.wait()
                pid = result
            }
            result = nil
            condition.unlock()
            return pid ?? -EAGAIN
        }

        private func serve() {
            condition.lock()
            while true {
                guard let work = job else {
                    condition.wait()
                    continue
                }
                job = nil
                result = work()
                condition.broadcast()
            }
        }
    }
}

public enum ChildProcessError: Error, Equatable, CustomStringConvertible {
    case start(String, errno: Int32)

    public var description: String {
        switch self {
        case .start(let executable, let code):
            return "\(executable) could not be started: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}
