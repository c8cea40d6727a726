import Foundation
import GuestImage
import GuestProtocol
import KVMHost

/// Boot to ready against guest RAM size, 64 MiB to 64 GiB, each next to the
/// 64 MiB boot of the same run, and the part of it that is KVM's: creating
/// and destroying a VM of that size (its memory slots), no guest run.
func memorySizes(runs: Int) throws -> [Row] {
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    func boot(_ bytes: Int) throws -> Double {
        nanoseconds(try clock.measure {
            let guest = try LiveGuest(kernel: kernel, configuration: .init(memorySize: bytes))
            _ = try guest.boot(timeout: .seconds(60))
            guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
        })
    }
    func slots(_ bytes: Int) throws -> Double {
        nanoseconds(try clock.measure { _ = try VirtualMachine(kvm: KVM(), memorySize: bytes) })
    }
    let sizes = [64 << 20, 1 << 30, 4 << 30, 16 << 30, 64 << 30]
    _ = try boot(64 << 20)  // warm-up
    var boots: [Int: [Double]] = [:], vms: [Int: [Double]] = [:]
    for _ in 0..<runs {
        for size in sizes {
            boots[size, default: []].append(try boot(size))
            vms[size, default: []].append(try slots(size))
        }
    }
    func name(_ bytes: Int) -> String { bytes >= 1 << 30 ? "\(bytes >> 30) GiB" : "\(bytes >> 20) MiB" }
    let base = median(boots[64 << 20]!)
    var rows: [Row] = []
    for size in sizes.dropFirst() {
        let ours = median(boots[size]!)
        let ratio = ours / base
        rows.append(Row(measurement: "boot to ready, \(name(size)) of RAM (median of \(runs); VM create + destroy alone \(formatTime(median(vms[size]!))))",
                        figure: formatTime(ours), baseline: "64 MiB " + formatTime(base), ratio: String(format: "%.1fx the time", ratio),
                        target: size == 64 << 30 ? "within 2x" : "", met: size == 64 << 30 ? ratio <= 2 : nil))
    }
    return rows
}
