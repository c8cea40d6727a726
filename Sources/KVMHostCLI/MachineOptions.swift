import ArgumentParser
import Foundation
import GuestImage
import GuestProtocol
import KVMHost
import MachineArguments

/// What every subcommand needs to build the machine. Values are taken as
/// text and parsed by `MachineArguments`, strictly, so that a bad value is
/// one line on stderr naming the option (exit status 64).
extension Backend: ExpressibleByArgument {}
extension MemoryBacking: ExpressibleByArgument {}

struct MachineOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("What runs the guest, as QEMU's -accel: kvm (this machine's /dev/kvm) or tcg "
                                           + "(QEMU TCG, an independent x86 implementation; no /dev/kvm needed).",
                                           valueName: "kvm|tcg"))
    var accel: Backend = .kvm

    @Option(name: .long, help: ArgumentHelp("Guest RAM, as QEMU's -m: a whole number with a unit K, M, G or T (MiB if none), "
                                           + "4M to 256G (default 64). From 3.5G, 3G lie below the 32-bit hole and the rest from 4 GiB.",
                                           valueName: "size"))
    var memory: String?

    // Unconditional: "--cpu -nx" is a value, as QEMU spells it, not an unknown flag.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("CPU features to give (+) and take away (-), as QEMU's -cpu spells them, "
                                           + "for example +smep,+smap or -nx: lm, nx, pdpe1gb, smep, smap, pcid. A feature the "
                                           + "backend cannot give is refused (this KVM has no pdpe1gb, smep, smap or pcid; QEMU TCG no pcid), and so is one "
                                           + "the guest's CPUID then disagrees with (this KVM shows the host's smep and smap).",
                                           valueName: "features"))
    var cpu: String?

    @Option(name: .long, help: ArgumentHelp("CPUs, as QEMU's -smp: 1 to \(GuestCPUs.maximumCount) (default 1). On kvm a vCPU thread each with the "
                                           + "in-kernel LAPIC, on tcg multi-threaded TCG; the kernel starts them with INIT-SIPI-SIPI.",
                                           valueName: "n"))
    var smp: String?

    @Option(name: .long, help: ArgumentHelp("What backs guest RAM on the host (kvm only): anonymous (ordinary pages), thp "
                                           + "(transparent huge pages, madvise) or hugetlb (2 MiB pages from /proc/sys/vm/nr_hugepages' pool).",
                                           valueName: "anonymous|thp|hugetlb"))
    var memoryBacking: MemoryBacking = .anonymous

    @Option(name: .long, help: ArgumentHelp("A guest kernel ELF with a PVH entry (default: the built-in guest).", valueName: "path"))
    var kernel: String?

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Mark a range of guest memory reserved in the memory map, as START-END in hex, page-aligned, "
                               + "for example 0x800000-0xa00000 (repeatable).", valueName: "range"))
    var reserve: [String] = []

    @Option(name: .long, help: ArgumentHelp("Seconds the whole run may take before the watchdog stops the guest, or 'none' "
                                           + "(default: none when interactive, 60 otherwise; at most 1e9).", valueName: "seconds"))
    var timeout: String?

    func configuration() throws -> LiveGuest.Configuration {
        var configuration = LiveGuest.Configuration(backend: accel, memorySize: try MachineArguments.memoryBytes(memory ?? String(VirtualMachine.defaultMemorySize >> 20)),
                                                    memoryHoles: try MachineArguments.reservedRanges(reserve))
        if let cpu { configuration.cpu = try MachineArguments.cpuFeatures(cpu) }
        configuration.memoryBacking = memoryBacking
        if let smp { configuration.cpuCount = try MachineArguments.cpuCount(smp) }
        return configuration
    }

    /// The kernel image, read once, and refused before reading when it is
    /// larger than guest memory (no image that large can load).
    /// The built-in kernel is guest.elf, or guest-coverage.elf for `coverage`.
    func kernelImage(memorySize: Int, coverage: Bool = false) throws -> [UInt8] {
        if let kernel { return try KernelFile.read(path: kernel, limit: memorySize) }
        if coverage { return try GuestImage.coverageKernel() }
        // A kernel the environment names is the user's file: read as --kernel is.
        if let named = try GuestImage.replacementPath() { return try KernelFile.read(path: named, limit: memorySize) }
        return try GuestImage.kernel()
    }

    /// The watchdog: as asked, or none for a person at a terminal.
    func watchdog(interactive: Bool) throws -> Duration {
        if let timeout {
            return try MachineArguments.timeout(timeout) ?? Deadline.never.timeout
        }
        return interactive ? Deadline.never.timeout : .seconds(60)
    }
}
