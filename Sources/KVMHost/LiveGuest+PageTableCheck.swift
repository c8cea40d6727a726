import CKVM
import GuestProtocol

extension LiveGuest {
    /// The host's page-table check (`PageTableCheck`) of the guest as it is
    /// now, between two events: every address space the kernel published,
    /// walked from outside. Returns what it found, violations included;
    /// throws when what the kernel published cannot be read.
    public func checkPageTables(limits: PageTableCheck.Limits = .standard) throws(PageTableCheckError) -> PageTableCheck.Report {
        let table = try PublishedTable(memory: memory, at: pageTableCheckTable)
        return try PageTableCheck(memory: memory, table: table, physicalAddressBits: physicalAddressBits, noExecute: noExecuteEnabled,
                                  limits: limits).run()
    }

    /// EFER.NXE as the vCPU has it, read once the kernel is up (it sets it
    /// at boot, for good); where the backend cannot say, whether the CPU
    /// was given NX.
    var noExecuteEnabled: Bool {
        if let known = checkedNoExecute { return known }
        let enabled = machine.cpuState().map { $0.efer & (1 << 11) != 0 } ?? !configuration.cpu.disabled.contains(.nx)
        checkedNoExecute = enabled
        return enabled
    }

    /// The check after a call: its first violation, or a table it cannot
    /// read, is the call's failure.
    func checkPageTablesOrFail() throws {
        let report: PageTableCheck.Report
        do {
            report = try checkPageTables()
        } catch {
            throw failure(.pageTablesUnchecked(error))
        }
        if let first = report.violations.first { throw failure(.pageTableViolation(first)) }
    }

    /// The check's result as the monitor's `check` shows it.
    func pageTableCheckText() -> String {
        do {
            return try checkPageTables().description
        } catch {
            return "page tables: not checked: \(error)"
        }
    }

    /// MAXPHYADDR of the guest's CPU as the host set it up: KVM's supported
    /// CPUID 0x80000008 EAX[7:0], which KVMHost hands the vCPU; QEMU TCG's
    /// default phys-bits, 40, under tcg.
    static func physicalAddressBits(of machine: any Machine) -> Int {
        guard let kvm = machine as? KVMMachine else { return 40 }
        var bits = 0
        for bit in 0..<8 where ckvm_supported_cpuid_bit(kvm.vm.kvm.fd, 0x8000_0008, 0, 0, UInt32(bit)) == 1 { bits |= 1 << bit }
        return bits == 0 ? 36 : bits
    }
}
