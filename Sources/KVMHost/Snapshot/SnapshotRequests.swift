import Foundation

/// Snapshots asked for from another thread (the console's escapes): the
/// run loop takes or rewinds to one at its next stop, with the vCPU out of
/// KVM_RUN, and says what it did through `report`.
public final class SnapshotRequests: @unchecked Sendable {
    public enum Request: Sendable { case take, rewind }

    // Thread-safe: `pending` and `input` are guarded by `lock`.
    private let lock = NSLock()
    private var pending: Request?
    /// Where the guest waits for console input, to wake it from there.
    private weak var _input: ConsoleInput?
    /// Takes the vCPU out of KVM_RUN.
    private let stop: VCPUStopHandle

    init(stop: VCPUStopHandle) {
        self.stop = stop
    }

    var input: ConsoleInput? {
        get { lock.withLock { _input } }
        set { lock.withLock { _input = newValue } }
    }

    /// From any thread: the newest request wins.
    public func request(_ request: Request) {
        lock.withLock { pending = request }
        stop.kick()
        input?.wake()
    }

    func take() -> Request? {
        lock.withLock {
            defer { pending = nil }
            return pending
        }
    }
}
