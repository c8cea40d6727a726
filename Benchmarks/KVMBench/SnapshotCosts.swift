import GuestImage
import GuestProtocol
import KVMHost

/// A fresh, ready guest three ways, interleaved run by run: by restoring a
/// snapshot of one taken after its ready report (the same VM; only the
/// pages a test's worth of calls dirtied are copied back), by a new VM
/// from that snapshot (and its release), by creating a
/// VM and booting it, and by QEMU TCG booting the same ELF. And what taking
/// the snapshot costs.
func snapshotCosts(runs: Int) throws -> [Row] {
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    let guest = try KVMGuest(kernel: kernel)
    _ = try guest.boot()
    let snapshot = try guest.snapshot()
    var pagesCopied: [Double] = []
    /// What a test does before the next one wants a fresh guest.
    func dirty() throws {
        _ = try guest.call(AllocateFrames(count: 16))
        _ = try guest.call(MapPage(virtual: 0x4000_0000_0000, frame: .allocate, flags: [.writable]))
    }
    func byRestore() throws -> Double {
        try dirty()
        var copied = 0
        let elapsed = nanoseconds(try clock.measure { copied = try guest.restore(snapshot) })
        pagesCopied.append(Double(copied))
        return elapsed
    }
    func byBoot() throws -> Double {
        nanoseconds(try clock.measure {
            let fresh = try KVMGuest(kernel: kernel)
            _ = try fresh.boot()
        })
    }
    func byNewVM() throws -> Double {
        nanoseconds(try clock.measure { _ = try KVMGuest(snapshot: snapshot, kernel: kernel) })
    }
    let qemu = try? QEMUBoot(memoryMiB: 64)
    func byQEMU(_ qemu: QEMUBoot) throws -> Double {
        nanoseconds(try qemu.run(kernel: GuestImage.kernelURL.path).elapsed)
    }
    func bySnapshot() throws -> Double {
        nanoseconds(try clock.measure { _ = try guest.snapshot() })
    }
    _ = try byRestore(); _ = try byBoot(); _ = try byNewVM()
    var restores: [Double] = [], newVMs: [Double] = [], boots: [Double] = [], qemuBoots: [Double] = [], snapshots: [Double] = []
    for _ in 0..<runs {
        restores.append(try byRestore())
        newVMs.append(try byNewVM())
        boots.append(try byBoot())
        if let qemu { qemuBoots.append(try byQEMU(qemu)) }
    }
    // Taking a snapshot makes it the restore baseline: measured after.
    for _ in 0..<runs { snapshots.append(try bySnapshot()) }
    let restore = median(restores), boot = median(boots)
    var rows = [
        Row(measurement: "fresh ready guest by restore, same VM, 64 MiB (median of \(runs), \(Int(median(pagesCopied))) pages copied)",
            figure: formatTime(restore), baseline: "create + boot " + formatTime(boot),
            ratio: times(boot / restore) + " faster", target: ">= 10x faster", met: boot / restore >= 10),
    ]
    let newVM = median(newVMs)
    rows.append(Row(measurement: "fresh ready guest by a new VM from the snapshot, copy-on-write (median of \(runs))",
                    figure: formatTime(newVM), baseline: "create + boot " + formatTime(boot),
                    ratio: times(boot / newVM) + " faster", target: ""))
    if !qemuBoots.isEmpty {
        let qemuBoot = median(qemuBoots)
        rows.append(Row(measurement: "fresh ready guest by restore against QEMU TCG's boot (median of \(runs))",
                        figure: formatTime(restore), baseline: "QEMU TCG " + formatTime(qemuBoot),
                        ratio: times(qemuBoot / restore) + " faster", target: ">= 100x faster", met: qemuBoot / restore >= 100))
    }
    rows.append(Row(measurement: "taking a snapshot, 64 MiB (median of \(runs))", figure: formatTime(median(snapshots)),
                    baseline: "create + boot " + formatTime(boot), ratio: times(median(snapshots) / boot) + " of a boot", target: ""))
    return rows
}
