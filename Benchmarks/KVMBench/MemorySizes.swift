import Foundation
import GuestImage
import GuestProtocol
import KVMHost

/// Boot to ready against guest RAM size, 64 MiB to 64 GiB, each next to the
/// 64 MiB boot of the same run, and the part of it that is KVM's: creating
/// and destroying a VM of that size (its memory slots), no guest run. Then
/// the kernel's own part of a boot (its TSC cycles from the first long-mode
/// instruction to the ready report, `ReadyRecord.bootCycles`), 64 GiB
/// against 64 MiB, on kvm and on QEMU TCG with and without 1 GiB pages:
/// what grows with RAM once VM creation and QEMU's start are set aside.
func memorySizes(runs: Int) throws -> [Row] {
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    func boot(_ bytes: Int, backend: Backend = .kvm, cpu: CPUSelection = CPUSelection()) throws -> (wall: Double, cycles: BootCycles) {
        var configuration = LiveGuest.Configuration(backend: backend, memorySize: bytes)
        configuration.cpu = cpu
        var cycles: BootCycles?
        let wall = nanoseconds(try clock.measure {
            let guest = try LiveGuest(kernel: kernel, configuration: configuration)
            cycles = try guest.boot(timeout: .seconds(60)).bootCycles
            guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
        })
        return (wall, cycles!)
    }
    func slots(_ bytes: Int) throws -> Double {
        nanoseconds(try clock.measure { _ = try VirtualMachine(kvm: KVM(), memorySize: bytes) })
    }
    let sizes = [64 << 20, 1 << 30, 4 << 30, 16 << 30, 64 << 30]
    _ = try boot(64 << 20)  // warm-up
    var boots: [Int: [Double]] = [:], vms: [Int: [Double]] = [:], kernelParts: [Int: [BootCycles]] = [:]
    for _ in 0..<runs {
        for size in sizes {
            let (wall, cycles) = try boot(size)
            boots[size, default: []].append(wall)
            kernelParts[size, default: []].append(cycles)
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

    func kernelPart(_ cycles: [BootCycles], _ part: KeyPath<BootCycles, UInt64>) -> Double { median(cycles.map { Double($0[keyPath: part]) }) }
    func cyclesText(_ value: Double) -> String { String(format: "%.1fM cycles", value / 1e6) }
    func kernelRow(_ what: String, small: [BootCycles], large: [BootCycles]) -> Row {
        let ratio = kernelPart(large, \.total) / kernelPart(small, \.total)
        return Row(measurement: "kernel's part of boot to ready, 64 GiB, \(what) (median of \(runs); of it direct map "
                   + cyclesText(kernelPart(large, \.addressSpace)) + ", frame allocator " + cyclesText(kernelPart(large, \.physicalMemory)) + ")",
                   figure: cyclesText(kernelPart(large, \.total)), baseline: "64 MiB " + cyclesText(kernelPart(small, \.total)),
                   ratio: String(format: "%.1fx the cycles", ratio))
    }
    rows.append(kernelRow("kvm", small: kernelParts[64 << 20]!, large: kernelParts[64 << 30]!))
    if let reason = Backend.tcg.unavailableReason {
        print("skipping the tcg rows of memory-sizes: \(reason)")
        return rows
    }
    for cpu in [CPUSelection(), CPUSelection(enabled: [.pdpe1gb])] {
        var small: [BootCycles] = [], large: [BootCycles] = []
        for _ in 0..<runs {
            small.append(try boot(64 << 20, backend: .tcg, cpu: cpu).cycles)
            large.append(try boot(64 << 30, backend: .tcg, cpu: cpu).cycles)
        }
        rows.append(kernelRow(cpu.isDefault ? "QEMU TCG, 2 MiB direct map" : "QEMU TCG +pdpe1gb, 1 GiB direct map", small: small, large: large))
    }
    return rows
}
