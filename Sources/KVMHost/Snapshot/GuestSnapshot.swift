import MemoryManager
import GuestProtocol
import CKVM
import Glibc

/// A guest as it stood between two events: every vCPU's whole state (and
/// the irqchip's, with several CPUs), a copy
/// of guest memory, and the host's side (the UART, the exit port, the
/// reports kept, the command channel). Made by `LiveGuest.snapshot()`, put
/// back by `LiveGuest.restore(_:)`, as often as wanted.
///
/// A final class: it owns the memory copy, which is shared, never copied.
public final class GuestSnapshot {
    /// Guest memory from guest-physical 0 to the end of RAM, the 32-bit
    /// hole included (which the memory file keeps as a hole).
    public let memorySize: Int
    /// Where RAM lies: one range, or two around the 32-bit hole, or as a
    /// configuration laid it out; a snapshot goes on only with the same.
    public let ram: [Range<UInt64>]
    /// Which kernel the guest ran (`KernelDigest`): a snapshot goes on only
    /// with the same one.
    public let kernelDigest: UInt64
    /// The CPU features the guest's VM was made with (its CPUID): the
    /// kernel chose its paging modes from them at boot, so a snapshot goes
    /// on only on the same.
    public let cpuFeatures: CPUSelection
    /// Each vCPU's state, by index: the boot CPU's first.
    let vcpus: [VCPUState]
    /// The in-kernel irqchip's state: a guest of several CPUs has one.
    let interruptController: InterruptControllerState?
    let serial: Serial16550.State
    let host: LiveGuest.HostState
    /// The copy of guest memory: a memory file, `memorySize` bytes, mapped
    /// shared here and copy-on-write into the VMs made from it.
    let memoryFile: Int32
    let memory: UnsafeMutableRawPointer
    /// Pages taken from the guest's memory (the rest were zeros, untouched);
    /// all of them for a snapshot read from a file.
    public private(set) var pagesCopied: Int

    convenience init(of guestMemory: GuestMemory, kernelDigest: UInt64, cpuFeatures: CPUSelection, vcpus: [VCPUState],
                     interruptController: InterruptControllerState?, serial: Serial16550.State, host: LiveGuest.HostState) throws {
        try self.init(memorySize: guestMemory.size, ram: guestMemory.ram, kernelDigest: kernelDigest, cpuFeatures: cpuFeatures,
                      vcpus: vcpus, interruptController: interruptController, serial: serial, host: host)
        // The memory file starts as zeros: only pages that may hold data
        // are copied (a booted 64 MiB guest touched a few MiB), and each
        // copy is a page fault of the file less.
        if let touched = guestMemory.pagesThatMayHoldData() {
            touched.forEachPage { page in memcpy(memory + page * pageBytes, guestMemory.pagePointer(page), pageBytes) }
            pagesCopied = touched.count
        } else {
            for range in ram {
                memcpy(memory + Int(range.lowerBound), guestMemory.base + Int(range.lowerBound), Int(range.upperBound - range.lowerBound))
            }
            pagesCopied = ramPages
        }
    }

    /// A snapshot whose memory is still all zeros, for its contents to be
    /// filled in (from a guest, or a file).
    init(memorySize: Int, ram: [Range<UInt64>], kernelDigest: UInt64, cpuFeatures: CPUSelection, vcpus: [VCPUState],
         interruptController: InterruptControllerState?, serial: Serial16550.State, host: LiveGuest.HostState) throws {
        precondition(ram.last?.upperBound == UInt64(memorySize), "RAM ends where memory does")
        precondition(!vcpus.isEmpty && (vcpus.count > 1) == (interruptController != nil), "several CPUs, and an irqchip, or one")
        let file = ckvm_memfd("kvmhost-snapshot")
        guard file >= 0 else { throw KVMError.mmapFailed(bytes: memorySize, errno: errno) }
        guard ftruncate(file, off_t(memorySize)) == 0 else {
            let code = errno
            close(file)
            throw KVMError.mmapFailed(bytes: memorySize, errno: code)
        }
        let mapped = mmap(nil, memorySize, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0)
        guard let mapped, mapped != MAP_FAILED else {
            let code = errno
            close(file)
            throw KVMError.mmapFailed(bytes: memorySize, errno: code)
        }
        self.memorySize = memorySize
        self.ram = ram
        self.kernelDigest = kernelDigest
        self.cpuFeatures = cpuFeatures
        pagesCopied = ram.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) / pageBytes }
        memoryFile = file
        memory = mapped
        self.vcpus = vcpus
        self.interruptController = interruptController
        self.serial = serial
        self.host = host
    }

    deinit {
        munmap(memory, memorySize)
        close(memoryFile)
    }

    /// The snapshot's copy of guest memory, bounds-checked.
    public func withMemory<R>(at address: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (end, overflow) = address.addingReportingOverflow(UInt64(count))
        guard !overflow, end <= UInt64(memorySize) else {
            throw GuestMemoryError(address: address, length: UInt64(count), memorySize: UInt64(memorySize))
        }
        return try body(UnsafeRawBufferPointer(start: memory + Int(address), count: count))
    }

    /// Pages of RAM, the hole left out.
    public var ramPages: Int { ram.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) / pageBytes } }

    /// Host memory the snapshot's copy of guest memory takes: its memory
    /// file's allocated blocks (pages never written take none).
    public var hostBytes: Int {
        var status = stat()
        guard fstat(memoryFile, &status) == 0 else { return memorySize }
        return Int(status.st_blocks) * 512
    }

    /// The boot CPU's registers the snapshot holds, as a failure report shows them.
    public var cpu: CPUState { cpu(0) }

    /// CPU `index`'s registers the snapshot holds.
    public func cpu(_ index: Int) -> CPUState { CPUState(regs: vcpus[index].registers, sregs: vcpus[index].specialRegisters) }

    /// The guest's CPUs: a guest made from the snapshot has as many.
    public var cpuCount: Int { vcpus.count }

    /// Copies the snapshot's page `page` over the guest's.
    func copyPage(_ page: Int, into guestMemory: GuestMemory) {
        memcpy(guestMemory.pagePointer(page), memory + page * pageBytes, pageBytes)
    }

    /// Copies every page of the snapshot over the guest's: the memory
    /// file's data as it is; its holes (never written: zeros) by making the
    /// guest's pages read as zeros (`GuestMemory.zero`). Neither side is
    /// read or written where it holds zeros already, so a 64 GiB guest is
    /// not made resident by a restore.
    func copyAllPages(into guestMemory: GuestMemory) {
        let data = MemoryFile.dataRegions(of: memoryFile, size: memorySize)
        let guestData = guestMemory.givenBackPagesReadAsZero ? nil : guestMemory.pagesThatMayHoldData()
        for range in ram {
            var page = Int(range.lowerBound / pageSize)
            let end = Int(range.upperBound / pageSize)
            for region in data where region.upperBound > page && region.lowerBound < end {
                let copied = max(region.lowerBound, page)..<min(region.upperBound, end)
                guestMemory.zero(pages: page..<copied.lowerBound, mayHoldData: guestData)
                for inData in copied { copyPage(inData, into: guestMemory) }
                page = copied.upperBound
            }
            guestMemory.zero(pages: page..<end, mayHoldData: guestData)
        }
    }

    /// The memory file's pages that hold data, run by run, in order
    /// (`MemoryFile.dataRegions`).
    func forEachDataRegion(_ body: (Range<Int>) throws -> Void) rethrows {
        for region in MemoryFile.dataRegions(of: memoryFile, size: memorySize) { try body(region) }
    }
}

/// A snapshot that cannot be taken or put back, and why.
public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case memorySizeMismatch(snapshot: Int, guest: Int)
    case guestExited(status: UInt32)
    case debuggerAttached
    case vcpu(VCPUStateError)
    case capabilityMissing(String)
    case differentKernel(snapshot: UInt64, guest: UInt64)
    /// The guest's VM gives or takes other CPU features than the snapshot's.
    case differentCPU(snapshot: CPUSelection, guest: CPUSelection)
    /// The same size of memory, RAM laid out otherwise.
    case differentRAM(snapshot: [Range<UInt64>], guest: [Range<UInt64>])
    /// A new VM from a snapshot maps the snapshot's memory copy-on-write: it
    /// takes no other backing.
    case backedByItsFile(MemoryBacking)
    /// A snapshot of a guest of `snapshot` CPUs restored into one of `guest`.
    case differentCPUCount(snapshot: Int, guest: Int)

    public var description: String {
        switch self {
        case .memorySizeMismatch(let snapshot, let guest):
            return "a snapshot of \(snapshot >> 20) MiB of guest memory (\(snapshot) bytes) cannot be restored into a guest of \(guest >> 20) MiB (\(guest) bytes)"
        case .guestExited(let status): return "the guest exited (status \(status)): there is nothing to snapshot that could go on"
        case .differentCPUCount(let snapshot, let guest):
            return "the snapshot is of a guest of \(snapshot) CPU\(snapshot == 1 ? "" : "s"), this one has \(guest): "
                + "a snapshot goes on with as many CPUs as it was taken with"
        case .debuggerAttached: return "a debugger is attached: detach it before taking or restoring a snapshot"
        case .vcpu(let error): return "the vCPU's state: \(error)"
        case .capabilityMissing(let name): return "this KVM lacks \(name), which snapshots need"
        case .differentKernel(let snapshot, let guest):
            return "the snapshot is of another kernel (digest \(hex(snapshot))) than this guest's (\(hex(guest)))"
        case .differentCPU(let snapshot, let guest):
            return "the snapshot's guest ran on \(snapshot) (--cpu), this one on \(guest): its kernel chose its paging modes from "
                + "the CPU it booted on"
        case .differentRAM(let snapshot, let guest):
            func ranges(_ ram: [Range<UInt64>]) -> String { ram.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound)))" }.joined(separator: " ") }
            return "the snapshot's RAM lies at \(ranges(snapshot)), this guest's at \(ranges(guest))"
        case .backedByItsFile(let backing):
            return "a guest from a snapshot is backed by the snapshot's memory, copy-on-write: it cannot take the \(backing.rawValue) backing"
        }
    }
}
