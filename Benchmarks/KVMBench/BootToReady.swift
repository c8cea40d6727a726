import GuestImage
import GuestProtocol
import KVMHost

/// Boot to the ready report: KVMHost (create the VM, load guest.elf, run to
/// the ready report, shut down, release everything) against QEMU TCG running
/// the same ELF with -kernel to the same report, interleaved run by run.
func bootToReady(runs: Int) throws -> Row {
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    func underKVMHost() throws -> Double {
        nanoseconds(try clock.measure {
            let guest = try LiveGuest(kernel: kernel)
            _ = try guest.boot()
            guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
        })
    }
    let qemu = try? QEMUBoot(memoryMiB: 64)
    func underQEMU(_ qemu: QEMUBoot) throws -> Double {
        let result = try qemu.run(kernel: GuestImage.kernelURL.path)
        guard case .ready? = result.reports.first, result.guestStatus == ExitStatus.success else {
            throw BenchmarkError("QEMU did not reach the ready report:\n\(result.console)")
        }
        return nanoseconds(result.elapsed)
    }
    // Warm-up: first-use costs of the process, not of a boot.
    _ = try underKVMHost()
    if let qemu { _ = try underQEMU(qemu) }
    var ours: [Double] = [], theirs: [Double] = []
    for _ in 0..<runs {
        ours.append(try underKVMHost())
        if let qemu { theirs.append(try underQEMU(qemu)) }
    }
    let measurement = "boot to ready report, 64 MiB (median of \(runs))"
    guard !theirs.isEmpty else {
        return Row(measurement: measurement, figure: formatTime(median(ours)), baseline: "QEMU TCG: qemu-system-x86_64 missing",
                   ratio: "-", target: ">= 10x faster")
    }
    return Row(measurement: measurement, figure: formatTime(median(ours)), baseline: "QEMU TCG " + formatTime(median(theirs)),
               ratio: times(median(theirs) / median(ours)) + " faster", target: ">= 10x faster",
               met: median(theirs) / median(ours) >= 10)
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
