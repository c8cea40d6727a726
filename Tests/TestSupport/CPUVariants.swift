import GuestImage
import MemoryManager
import GuestProtocol
import KVMHost
import XCTest

/// The CPUs the live suite's paging checks run under on a backend: its
/// default, without NX, and (where the backend has them) with SMEP and
/// SMAP and with 1 GiB pages.
public enum CPUVariants {
    public static func all(on backend: Backend) -> [CPUSelection] {
        var variants = [CPUSelection(), CPUSelection(disabled: [.nx])]
        if backend == .tcg { variants.append(CPUSelection(enabled: [.smep, .smap, .pdpe1gb])) }
        return variants
    }

    /// Boots a guest on `backend` under each variant, checks that the
    /// kernel turned on what CPUID shows, and hands it to `body` with the
    /// modes the model predicts with; afterwards every frame the checks took
    /// must be back and the kernel must still run a program.
    public static func forEach(on backend: Backend, file: StaticString = #filePath, line: UInt = #line,
                               _ body: (LiveGuest, MMUModes, CPUSelection) throws -> Void) throws {
        for cpu in all(on: backend) {
            var configuration = LiveGuest.Configuration(backend: backend)
            configuration.cpu = cpu
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: configuration)
            _ = try guest.boot()
            let found = try guest.call(ReadCPU())
            XCTAssertEqual(found.noExecute, !cpu.disabled.contains(.nx), "EFER.NXE with \(cpu)", file: file, line: line)
            // The kernel turns on what CPUID shows (boot refused a selection CPUID did not follow).
            XCTAssertEqual(found.smep, found.has(.smep), "CR4.SMEP with \(cpu)", file: file, line: line)
            XCTAssertEqual(found.smap, found.has(.smap), "CR4.SMAP with \(cpu)", file: file, line: line)
            let before = try guest.call(ReadFrameStatistics()).free
            try body(guest, found.mmuModes, cpu)
            XCTAssertEqual(try guest.call(ReadFrameStatistics()).free, before, "the checks left nothing behind under \(cpu)",
                           file: file, line: line)
            XCTAssertEqual(try guest.runProgram("hello").outcome, .exited(status: 7), "under \(cpu)", file: file, line: line)
        }
    }
}
