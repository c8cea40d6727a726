import ArgumentParser
import Foundation
import GuestProtocol
import KVMHost

struct AddressSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "address-space",
        abstract: "Boot the guest and print the kernel's address space as regions, from the host's page walker.",
        discussion: """
            The walk reads at most \(AddressSpaceMap.Limits.standard.tables) page tables and keeps at most \
            \(AddressSpaceMap.Limits.standard.regions) regions: tables that point back at themselves end it \
            with a message (exit status 125), not with the host's memory.
            """)

    @OptionGroup var machine: MachineOptions

    func run() throws {
        ExitCodes.reporting {
            let configuration = try machine.configuration()
            let deadline = try machine.watchdog(interactive: false)
            let guest = try LiveGuest(kernel: machine.kernelImage(memorySize: configuration.memorySize), configuration: configuration)
            let ready = try guest.boot(timeout: deadline)
            let map = try AddressSpaceMap(memory: guest.memory, cr3: ready.pageTableRoot)
            try OutputStream.standardOutput.write("kernel address space, CR3 0x\(String(ready.pageTableRoot, radix: 16)):\n\(map)\n")
            return try guest.shutdown()
        }
    }
}
