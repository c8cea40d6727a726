import MemoryManager
import CKVM
import Glibc
import GuestProtocol

/// One KVM virtual machine with its guest memory, a memory slot for each
/// range of RAM (`GuestRAM`: slot 0 below the 32-bit hole, slot 1 above it).
/// Owns the VM file descriptor and the memory mapping; both are released
/// when the last reference goes (vCPUs keep their VM alive).
public final class VirtualMachine {
    public let kvm: KVM
    let fd: Int32
    public let memory: GuestMemory

    /// The smallest and largest guest RAM this host builds (`GuestRAM`).
    public static let minimumMemorySize = Int(GuestRAM.minimumBytes)
    public static let maximumMemorySize = Int(GuestRAM.maximumBytes)
    public static let defaultMemorySize = Int(GuestRAM.defaultBytes)

    /// A VM of `memorySize` bytes of RAM, laid out as QEMU's pc machine does.
    public convenience init(kvm: KVM, memorySize: Int = VirtualMachine.defaultMemorySize) throws {
        guard memorySize >= Self.minimumMemorySize, memorySize <= Self.maximumMemorySize else {
            throw KVMError.invalidMemorySize(bytes: memorySize, reason: "it must lie between 4 MiB and \(Self.maximumMemorySize >> 30) GiB")
        }
        guard memorySize % pageBytes == 0 else {
            throw KVMError.invalidMemorySize(bytes: memorySize, reason: "it must be a whole number of 4 KiB pages")
        }
        try self.init(kvm: kvm, ram: GuestRAM.rangeList(bytes: UInt64(memorySize)), memory: nil)
    }

    /// A VM with RAM at `ram` (checked by the caller: sorted, disjoint,
    /// page-aligned), a memory slot each, its memory `memory` (a
    /// snapshot's, copy-on-write) or fresh zeroed memory backed as
    /// `backing` says when nil.
    init(kvm: KVM, ram: [Range<UInt64>], memory givenMemory: GuestMemory?, backing: MemoryBacking = .anonymous) throws {
        self.kvm = kvm
        let fd = ckvm_ioctl_int(kvm.fd, ckvm_create_vm, 0)
        guard fd >= 0 else { throw KVMError.ioctlFailed(request: "KVM_CREATE_VM", errno: ckvm_errno()) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        do {
            memory = try givenMemory ?? GuestMemory(ram: ram, backing: backing)
            precondition(memory.ram == ram, "the memory given is laid out as the VM's")
            for (slot, range) in ram.enumerated() {
                try setSlot(UInt32(slot), range, flags: 0)
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    private func setSlot(_ slot: UInt32, _ range: Range<UInt64>, flags: UInt32) throws {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: flags, guest_phys_addr: range.lowerBound, memory_size: range.upperBound - range.lowerBound,
            userspace_addr: UInt64(UInt(bitPattern: memory.base + Int(range.lowerBound))))
        guard ckvm_ioctl_pointer(fd, ckvm_set_user_memory_region, &region) == 0 else {
            let request = flags & ckvm_mem_log_dirty_pages != 0 ? "KVM_SET_USER_MEMORY_REGION (dirty logging)" : "KVM_SET_USER_MEMORY_REGION"
            throw KVMError.ioctlFailed(request: request, errno: ckvm_errno())
        }
    }

    /// True once KVM logs the guest's writes to memory (`startDirtyLogging`).
    public private(set) var logsDirtyPages = false

    /// Has KVM log every page the guest writes from now on (slot 0 again,
    /// with KVM_MEM_LOG_DIRTY_PAGES), and the host's writes recorded too.
    /// Until a snapshot asks for it, the guest runs without the write
    /// protection logging costs. Every slot logs, one a range of RAM.
    func startDirtyLogging() throws {
        guard !logsDirtyPages else { return }
        for (slot, range) in memory.ram.enumerated() {
            try setSlot(UInt32(slot), range, flags: ckvm_mem_log_dirty_pages)
        }
        memory.trackHostWrites()
        logsDirtyPages = true
    }

    /// The pages written, by the guest or the host, since logging started or
    /// this was last called; the log starts empty again.
    func takeDirtyPages() throws -> PageBitmap {
        precondition(logsDirtyPages, "dirty logging started")
        var dirty = PageBitmap(pages: memory.size / pageBytes)
        for (slot, range) in memory.ram.enumerated() {
            let pages = Int(range.upperBound - range.lowerBound) / pageBytes
            var words = [UInt64](repeating: 0, count: (pages + 63) / 64)
            guard ckvm_get_dirty_log(fd, UInt32(slot), &words) == 0 else {
                throw KVMError.ioctlFailed(request: "KVM_GET_DIRTY_LOG", errno: ckvm_errno())
            }
            dirty.insert(log: words, count: pages, fromPage: Int(range.lowerBound / pageSize))
        }
        if let host = memory.takeHostWrites() { dirty.formUnion(host) }
        return dirty
    }

    /// KVM_CREATE_IRQCHIP: the in-kernel PIC, IOAPIC and a LAPIC a vCPU
    /// (created after this). With it, vCPUs other than 0 wait inside
    /// KVM_RUN for the INIT and SIPI that start them, as hardware's do.
    func createInterruptController() throws {
        guard ckvm_ioctl(fd, ckvm_create_irqchip) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_CREATE_IRQCHIP", errno: ckvm_errno())
        }
    }

    /// A vCPU with the CPU features KVM supports, `cpu` given and taken away
    /// (`CPUFeatureError` for one KVM does not support).
    public func createVCPU(id: Int = 0, cpu: CPUSelection = CPUSelection()) throws -> VCPU {
        try VCPU(vm: self, id: id, cpu: cpu)
    }
}
