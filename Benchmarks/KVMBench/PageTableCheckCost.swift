import GuestImage
import GuestProtocol
import KVMHost

/// What the host's page-table check costs (`LiveGuest.checkPageTables`, run
/// after every call by default), in a 64 MiB and a 4 GiB guest after a small
/// workload (pages mapped, a memory space reserved, a process run): against
/// the call it follows, an Echo of no words with the check off.
func pageTableCheckCost(runs: Int) throws -> [Row] {
    let kernel = try GuestImage.kernel()
    let clock = ContinuousClock()
    var rows: [Row] = []
    for size in [64 << 20, 4 << 30] {
        var configuration = LiveGuest.Configuration(memorySize: size)
        configuration.checkPageTablesAfterCalls = false
        let guest = try LiveGuest(kernel: kernel, configuration: configuration)
        _ = try guest.boot(timeout: .seconds(60))
        for page in 0..<16 { _ = try guest.call(MapPage(virtual: 0x4000_0000 + UInt64(page) << 12, frame: .allocate, flags: [.user, .writable])) }
        _ = try guest.call(ReserveSpace(pages: 64, backing: .eager, flags: [.writable]))
        _ = try guest.call(RunProgram(index: 0, reportFaults: false))
        var checks: [Double] = [], calls: [Double] = []
        var report: PageTableCheck.Report?
        for _ in 0..<runs {
            checks.append(nanoseconds(try clock.measure { report = try guest.checkPageTables() }))
            calls.append(nanoseconds(try clock.measure { _ = try guest.call(Echo([])) }))
        }
        guard let report, report.violations.isEmpty else { throw BenchmarkError("the check found violations: \(report.map(\.description) ?? "")") }
        guard try guest.shutdown() == ExitStatus.success else { throw BenchmarkError("the guest did not exit cleanly") }
        let check = median(checks), call = median(calls)
        let name = size >= 1 << 30 ? "\(size >> 30) GiB" : "\(size >> 20) MiB"
        rows.append(Row(measurement: "page-table check, \(name) guest, \(report.tables) tables, \(report.mappings) mappings (median of \(runs))",
                        figure: formatTime(check), baseline: "Echo round trip, check off " + formatTime(call),
                        ratio: String(format: "%.2fx a call", check / call)))
    }
    return rows
}
