// Boots the same guest.elf to its ready report under KVMHost and under QEMU
// TCG, interleaved in one run, and prints both medians and their ratio.
//
//     swift run -c release boot-benchmark [runs]
//
// KVMHost: create the VM, load the ELF, run to the ready report, shut down
// and release everything. QEMU: start qemu-system-x86_64 -accel tcg -M pc
// -kernel guest.elf, which runs the guest to its ready report and exit.

import Foundation
import GuestImage
import GuestProtocol
import KVMHost

let runs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 20
let kernel = try GuestImage.kernel()
let kernelPath = GuestImage.kernelURL.path

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func bootUnderKVMHost() throws -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure {
        let guest = try LiveGuest(kernel: kernel)
        _ = try guest.boot()
        guard try guest.shutdown() == ExitStatus.success else { fatalError("the guest did not exit cleanly") }
    }
    return seconds(elapsed)
}

func bootUnderQEMU(_ qemu: QEMUBoot) throws -> Double {
    let result = try qemu.run(kernel: kernelPath)
    guard case .ready? = result.reports.first, result.guestStatus == ExitStatus.success else {
        fatalError("QEMU did not reach the ready report:\n\(result.console)")
    }
    return seconds(result.elapsed)
}

let qemu: QEMUBoot?
do {
    qemu = try QEMUBoot(memoryMiB: 64)
} catch {
    print("QEMU: \(error); measuring KVMHost alone")
    qemu = nil
}

_ = try bootUnderKVMHost()  // warm-up: first-use costs of the process, not of a boot
if let qemu { _ = try bootUnderQEMU(qemu) }

var kvmTimes: [Double] = []
var qemuTimes: [Double] = []
for _ in 0..<runs {
    kvmTimes.append(try bootUnderKVMHost())
    if let qemu { qemuTimes.append(try bootUnderQEMU(qemu)) }
}

let kvmMedian = median(kvmTimes)
print("boot to ready report, guest.elf (\(kernel.count) bytes), 64 MiB, \(runs) runs each, interleaved")
print(String(format: "  KVMHost   median %8.2f ms   (min %.2f, max %.2f)", kvmMedian * 1000, kvmTimes.min()! * 1000, kvmTimes.max()! * 1000))
if !qemuTimes.isEmpty {
    let qemuMedian = median(qemuTimes)
    print(String(format: "  QEMU TCG  median %8.2f ms   (min %.2f, max %.2f)", qemuMedian * 1000, qemuTimes.min()! * 1000, qemuTimes.max()! * 1000))
    print(String(format: "  ratio     QEMU / KVMHost = %.1fx (target: at least 10x)", qemuMedian / kvmMedian))
}
