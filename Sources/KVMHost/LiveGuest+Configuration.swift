import GuestProtocol
import MemoryManager

extension LiveGuest {
    public struct Configuration: Sendable {
        /// KVM, or QEMU TCG: the same guest, the same calls and reports.
        public var backend: Backend
        /// Bytes of RAM. Laid out as QEMU's pc machine does (`GuestRAM`),
        /// unless `ram` says where it lies.
        public var memorySize: Int
        /// RAM at these guest-physical ranges instead (kvm only): sorted,
        /// disjoint, page-aligned, the first from 0, `memorySize` bytes in
        /// all, at most `GuestRAM.maximumRanges`. A machine as fragmented as
        /// real ones are, with RAM above 4 GiB in a small guest.
        public var ram: [Range<UInt64>]?
        /// Extra ranges of guest memory marked reserved in the memory map.
        public var memoryHoles: [Range<UInt64>]
        /// CPU features given and taken away against the backend's CPU (KVM's
        /// supported CPUID, QEMU's qemu64): `--cpu +smep,-nx`.
        public var cpu = CPUSelection()
        /// How many CPUs the guest has (QEMU's `-smp`), 1 to
        /// `GuestCPUs.maximumCount`: on KVM a vCPU each, on a thread each,
        /// with the in-kernel LAPIC; on QEMU multi-threaded TCG. The kernel
        /// finds them in the ACPI tables and starts them with INIT-SIPI-SIPI.
        /// KVMHOST_SMP sets it for every configuration that does not (0
        /// until then: `validate` names a bad value of the variable).
        public var cpuCount = (try? KVMHostEnvironment.defaultCPUCount()) ?? 0
        /// What backs guest RAM on the host (kvm only): ordinary pages,
        /// transparent huge pages, or the hugetlb pool.
        public var memoryBacking = MemoryBacking.anonymous
        public var kvmPath: String
        /// Page-trap and program reports kept, at least, of each (see
        /// `pageTraps`): 1 to `maximumReportLimit`.
        public var reportLimit: Int
        /// Runs the host's page-table check (`LiveGuest.checkPageTables`)
        /// after every call that succeeds: a violation, or tables it cannot
        /// read, fail the call (`GuestFailure.Kind.pageTableViolation`,
        /// `.pageTablesUnchecked`).
        public var checkPageTablesAfterCalls = true

        public static let maximumReportLimit = 1 << 32

        public init(backend: Backend = .kvm, memorySize: Int = VirtualMachine.defaultMemorySize, memoryHoles: [Range<UInt64>] = [],
                    kvmPath: String = "/dev/kvm", reportLimit: Int = 1 << 20) {
            self.backend = backend
            self.memorySize = memorySize
            self.ram = nil
            self.memoryHoles = memoryHoles
            self.kvmPath = kvmPath
            self.reportLimit = reportLimit
        }

        /// RAM at `ram`, `memorySize` its total.
        public init(backend: Backend = .kvm, ram: [Range<UInt64>], memoryHoles: [Range<UInt64>] = [], kvmPath: String = "/dev/kvm",
                    reportLimit: Int = 1 << 20) {
            self.init(backend: backend, memorySize: Int(truncatingIfNeeded: ram.reduce(0) { $0 &+ ($1.upperBound &- $1.lowerBound) }),
                      memoryHoles: memoryHoles, kvmPath: kvmPath, reportLimit: reportLimit)
            self.ram = ram
        }

        /// Where the RAM lies: `ram`, or QEMU pc's layout of `memorySize`.
        public var ramRanges: [Range<UInt64>] {
            if let ram { return ram }
            return GuestRAM.rangeList(bytes: UInt64(memorySize))
        }

        private static func validate(ram: [Range<UInt64>], memorySize: Int) throws(ConfigurationError) {
            func refuse(_ problem: String) -> ConfigurationError { .ramLayout(problem) }
            guard !ram.isEmpty, ram.count <= GuestRAM.maximumRanges else {
                throw refuse("it must have 1 to \(GuestRAM.maximumRanges) ranges, not \(ram.count)")
            }
            guard ram[0].lowerBound == 0 else { throw refuse("the first range must start at 0, where the boot information goes") }
            var total: UInt64 = 0
            for (index, range) in ram.enumerated() {
                let name = "range \(index) [\(hex(range.lowerBound)), \(hex(range.upperBound)))"
                guard !range.isEmpty else { throw refuse("\(name) is empty") }
                guard range.lowerBound % pageSize == 0, range.upperBound % pageSize == 0 else { throw refuse("\(name) does not start and end on 4 KiB pages") }
                guard range.upperBound <= GuestRAM.maximumEnd else { throw refuse("\(name) ends above \(hex(GuestRAM.maximumEnd))") }
                if index > 0 {
                    guard ram[index - 1].upperBound <= range.lowerBound else { throw refuse("\(name) is not above the range before it") }
                }
                total += range.upperBound - range.lowerBound
            }
            guard total == UInt64(memorySize) else { throw refuse("its ranges hold \(total) bytes, memorySize says \(memorySize)") }
        }

        /// Every value checked, in one place, before anything is built from
        /// them: `LiveGuest.init` calls it, so a value set after `init` is
        /// checked too.
        public func validate() throws(ConfigurationError) {
            if let ram {
                guard backend == .kvm else { throw .ramLayoutNeedsKVM }
                try Self.validate(ram: ram, memorySize: memorySize)
            }
            guard (VirtualMachine.minimumMemorySize...VirtualMachine.maximumMemorySize).contains(memorySize) else {
                throw .memorySizeOutOfRange(bytes: memorySize)
            }
            guard memorySize % pageBytes == 0 else { throw .memorySizeNotWholePages(bytes: memorySize) }
            guard (1...Self.maximumReportLimit).contains(reportLimit) else { throw .reportLimitOutOfRange(reportLimit) }
            guard (1...GuestCPUs.maximumCount).contains(cpuCount) else {
                do { _ = try KVMHostEnvironment.defaultCPUCount() } catch { throw .environment(error) }
                throw .cpuCountOutOfRange(cpuCount)
            }
            do { try cpu.validate() } catch { throw .cpu(error) }
            if cpuCount > 1 {
                // The other CPUs start in a page of RAM below 1 MiB, and the
                // local APICs' page is MMIO, never RAM.
                let startup = GuestCPUs.startupPage..<GuestCPUs.startupPage + UInt64(pageBytes)
                guard ramRanges.contains(where: { $0.lowerBound <= startup.lowerBound && startup.upperBound <= $0.upperBound }),
                      !memoryHoles.contains(where: { $0.overlaps(startup) }) else { throw .startupPageNotRAM }
                let apic = GuestCPUs.localAPICPage..<GuestCPUs.localAPICPage + UInt64(pageBytes)
                guard !ramRanges.contains(where: { $0.overlaps(apic) }) else { throw .ramOverLocalAPIC }
            }
            // QEMU's pc machine lays out its own memory map; it takes no holes.
            guard backend == .kvm || memoryHoles.isEmpty else { throw .memoryHolesNeedKVM }
            guard backend == .kvm || memorySize % (1 << 20) == 0 else { throw .memorySizeNotWholeMiB(bytes: memorySize) }
            guard backend == .kvm || memoryBacking == .anonymous else { throw .memoryBacking(.needsKVM(memoryBacking)) }
        }
    }

    /// A configuration value that cannot be used, and why.
    public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
        case memorySizeOutOfRange(bytes: Int)
        case memorySizeNotWholePages(bytes: Int)
        case reportLimitOutOfRange(Int)
        case cpuCountOutOfRange(Int)
        /// Several CPUs need the start-up page (0x8000) in usable RAM.
        case startupPageNotRAM
        /// Several CPUs need the local APICs' page (0xFEE00000) free of RAM.
        case ramOverLocalAPIC
        /// An environment variable a configuration reads has a value it does not take.
        case environment(EnvironmentError)
        case memoryHolesNeedKVM
        case memorySizeNotWholeMiB(bytes: Int)
        /// `ram` is not a layout this host builds: why.
        case ramLayout(String)
        case ramLayoutNeedsKVM
        case cpu(CPUFeatureError)
        case memoryBacking(MemoryBackingError)
        /// A `KVMGuest` was asked for with another backend.
        case kvmGuestOnAnotherBackend(Backend)

        public var description: String {
            switch self {
            case .memorySizeOutOfRange(let bytes):
                return "guest memory of \(bytes) bytes is not possible: it must lie between "
                    + "\(VirtualMachine.minimumMemorySize >> 20) MiB and \(VirtualMachine.maximumMemorySize >> 20) MiB"
            case .memorySizeNotWholePages(let bytes):
                return "guest memory of \(bytes) bytes is not a whole number of 4 KiB pages"
            case .reportLimitOutOfRange(let limit):
                return "reportLimit \(limit) must lie between 1 and \(Configuration.maximumReportLimit)"
            case .cpuCountOutOfRange(let count):
                return "a guest of \(count) CPUs is not possible: it must have 1 to \(GuestCPUs.maximumCount)"
            case .startupPageNotRAM:
                return "several CPUs need usable RAM at \(hex(GuestCPUs.startupPage))-\(hex(GuestCPUs.startupPage + 0x1000)), "
                    + "where they start (INIT-SIPI-SIPI): it lies outside RAM or in a reserved range"
            case .ramOverLocalAPIC:
                return "several CPUs need the local APICs' page \(hex(GuestCPUs.localAPICPage)) free of RAM: the RAM layout covers it"
            case .environment(let error):
                return "the configuration cannot be built: \(error)"
            case .memoryHolesNeedKVM:
                return "memory holes need the kvm backend: under tcg, QEMU's pc machine lays out the memory map itself"
            case .memorySizeNotWholeMiB(let bytes):
                return "guest memory of \(bytes) bytes is not a whole number of MiB, as QEMU (the tcg backend) takes it"
            case .ramLayout(let problem):
                return "the RAM layout cannot be built: \(problem)"
            case .cpu(let error):
                return "the CPU cannot be built: \(error)"
            case .memoryBacking(let error):
                return "guest RAM cannot be backed so: \(error)"
            case .kvmGuestOnAnotherBackend(let backend):
                return "a KVMGuest runs on the kvm backend, not \(backend): LiveGuest runs on either"
            case .ramLayoutNeedsKVM:
                return "a RAM layout needs the kvm backend: under tcg, QEMU's pc machine lays out RAM itself"
            }
        }
    }
}
