import Foundation
import KVMHost

/// The guest's console on standard output: filtered so that it cannot drive
/// the terminal (`ConsoleFilter`), and ended, with the guest stopped, when
/// standard output cannot take it (a full disk, a closed pipe).
final class ConsoleOutput {
    private var filter = ConsoleFilter()
    private let stream: OutputStream
    private let stop: VCPUStopHandle

    init(stream: OutputStream = .standardOutput, stopping stop: VCPUStopHandle) {
        self.stream = stream
        self.stop = stop
    }

    func write(_ bytes: [UInt8]) {
        do {
            try stream.write(filter.filter(bytes))
        } catch {
            stop.requestStop()
        }
    }

    /// The write that failed, which ended the run.
    var failure: OutputError? { stream.failure }
}
