import ArgumentParser
import Foundation
import GuestImage
import KVMHost

@main
struct KVMHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmhost",
        abstract: "Boot the guest kernel under KVM with its serial console on this terminal.",
        discussion: """
            Exits with the guest's exit status once the guest stops. A guest failure \
            (exception, triple fault, timeout, bad port access) is described on stderr \
            and exits with status 125.
            """)

    @Option(name: .long, help: "Guest memory in MiB.")
    var memory: Int = VirtualMachine.defaultMemorySize >> 20

    @Option(name: .long, help: "Seconds the guest may run before the watchdog stops it.")
    var timeout: Double = 30

    @Option(name: .long, help: "A guest kernel ELF with a PVH entry (default: the built-in guest).")
    var kernel: String?

    func run() throws {
        let image: [UInt8]
        if let kernel {
            image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: kernel)))
        } else {
            image = try GuestImage.kernel()
        }
        do {
            let guest = try LiveGuest(kernel: image, configuration: .init(memorySize: memory << 20))
            guest.serial.output = { bytes in
                FileHandle.standardOutput.write(Data(bytes))
            }
            let status = try guest.runToExit(timeout: .milliseconds(Int64(timeout * 1000)))
            throw ExitCode(Int32(truncatingIfNeeded: status))
        } catch let failure as GuestFailure {
            FileHandle.standardError.write(Data("kvmhost: \(failure)\n".utf8))
            throw ExitCode(125)
        } catch let error as KVMError {
            FileHandle.standardError.write(Data("kvmhost: \(error)\n".utf8))
            throw ExitCode(126)
        } catch let error as ELFLoadError {
            FileHandle.standardError.write(Data("kvmhost: cannot load the kernel: \(error)\n".utf8))
            throw ExitCode(126)
        }
    }
}
