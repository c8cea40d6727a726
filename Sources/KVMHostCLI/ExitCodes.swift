import ArgumentParser
import Foundation
import KVMHost

/// The exit statuses `kvmhost --help` lists.
enum ExitCodes {
    static let panic: Int32 = 121
    static let tripleFault: Int32 = 122
    static let exception: Int32 = 123
    static let timeout: Int32 = 124
    static let otherFailure: Int32 = 125
    static let kvmUnavailable: Int32 = 126
    static let badArguments: Int32 = 64
    static let badImage: Int32 = 65

    static func code(for failure: GuestFailure) -> Int32 {
        switch failure.kind {
        case .panic, .assertion: return panic
        case .tripleFault: return tripleFault
        case .exception, .nestedException: return exception
        case .timeout: return timeout
        case .stoppedByUser: return 0
        default: return otherFailure
        }
    }

    /// Runs `body`, turning every error into one line on stderr and its exit status.
    static func reporting(_ body: () throws -> Int32) -> Never {
        let status: Int32
        do {
            status = try body()
        } catch let failure as GuestFailure {
            if case .stoppedByUser = failure.kind {
                printError("stopped")
            } else {
                printError("\(failure)")
            }
            status = code(for: failure)
        } catch let error as KVMError {
            if case .invalidMemorySize = error {
                printError("\(error)")
                status = badArguments
            } else {
                printError("\(error)")
                status = kvmUnavailable
            }
        } catch let error as ELFLoadError {
            printError("the kernel image is not loadable: \(error)")
            status = badImage
        } catch let error as KernelFileError {
            printError("\(error)")
            status = badImage
        } catch let error as UsageError {
            printError(error.message)
            status = badArguments
        } catch let error as MemoryMapError {
            printError("\(error)")
            status = badArguments
        } catch {
            printError("\(error)")
            status = otherFailure
        }
        Terminal.restore()
        exit(status)
    }

    static func printError(_ message: String) {
        Terminal.restore()
        FileHandle.standardError.write(Data("kvmhost: \(message)\n".utf8))
    }
}

struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

struct KernelFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot read the kernel image \(path): \(reason)" }
}
