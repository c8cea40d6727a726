import Glibc

/// A child program run with bounds: it gets `timeout` and `maximumOutput`
/// bytes of stdout, and is killed at either limit with every process it
/// started (it runs in a process group of its own, and SIGKILL goes to the
/// group). A child that leaves a descendant holding its stdout open ends
/// when it exits: the group is killed then too. stdin and stderr are
/// /dev/null.
enum BoundedProcess {
    struct Outcome: Equatable {
        /// Its stdout, at most `maximumOutput` bytes.
        var output: [UInt8]
        /// The exit status, or nil when it was killed or died of a signal.
        var status: Int32?
        /// Why it was stopped, when it was.
        var stopped: String?
    }

    static func run(_ executable: String, _ arguments: [String], timeout: Double, maximumOutput: Int) throws(SymbolizationProblem) -> Outcome {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw .symbolizerFailed("pipe: \(String(cString: strerror(errno)))") }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(pipeEnds[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(pipeEnds[1])
        guard spawned == 0 else { throw .symbolizerFailed("\(executable) could not be started: \(String(cString: strerror(spawned)))") }
        _ = fcntl(pipeEnds[0], F_SETFL, fcntl(pipeEnds[0], F_GETFL) | O_NONBLOCK)

        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        func elapsed() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
        }
        var output: [UInt8] = []
        var stopped: String?
        var waitStatus: Int32 = 0
        var exited = false
        var chunk = [UInt8](repeating: 0, count: 65536)
        /// Reads what is there; false at the end of the output.
        func drain() -> Bool {
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(pipeEnds[0], $0.baseAddress!, $0.count) }
                if count > 0 {
                    output += chunk[0..<min(count, maximumOutput + 1 - output.count)]
                    if output.count > maximumOutput { return false }
                    continue
                }
                if count < 0 && errno == EINTR { continue }
                return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
            }
        }
        while true {
            if !drain() {
                if output.count > maximumOutput {
                    stopped = "it wrote more than \(maximumOutput) bytes"
                    output.removeLast(output.count - maximumOutput)
                }
                break
            }
            if waitpid(pid, &waitStatus, WNOHANG) == pid {
                // It exited: what it wrote is in the pipe; a descendant that
                // still holds the pipe open is not waited for.
                exited = true
                _ = drain()
                if output.count > maximumOutput {
                    stopped = "it wrote more than \(maximumOutput) bytes"
                    output.removeLast(output.count - maximumOutput)
                }
                break
            }
            let left = timeout - elapsed()
            guard left > 0 else {
                stopped = "it ran longer than \(timeout) s"
                break
            }
            var poller = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, Int32(min(left, 0.05) * 1000) + 1)
        }
        kill(-pid, SIGKILL)
        if !exited {
            while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        }
        let status: Int32? = stopped == nil && waitStatus & 0x7f == 0 ? (waitStatus >> 8) & 0xff : nil
        return Outcome(output: output, status: status, stopped: stopped)
    }
}
