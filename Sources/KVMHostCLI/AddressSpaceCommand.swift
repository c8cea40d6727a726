import ArgumentParser
import Foundation
import GuestProtocol
import KVMHost

struct AddressSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "address-space",
        abstract: "Boot the guest and print the kernel's address space as regions, from the host's page walker.")

    @OptionGroup var machine: MachineOptions

    func run() throws {
        ExitCodes.reporting {
            let configuration = try machine.configuration()
            let guest = try LiveGuest(kernel: machine.kernelImage(), configuration: configuration)
            let ready = try guest.boot(timeout: machine.watchdog(interactive: false))
            let map = try AddressSpaceMap(memory: guest.vm.memory, cr3: ready.pageTableRoot)
            print("kernel address space, CR3 0x\(String(ready.pageTableRoot, radix: 16)):")
            print(map)
            return Int32(truncatingIfNeeded: try guest.shutdown())
        }
    }
}
