import CKVM
import Glibc

/// One KVM virtual machine with its guest memory in memory slot 0.
/// Owns the VM file descriptor and the memory mapping; both are released
/// when the last reference goes (vCPUs keep their VM alive).
public final class VirtualMachine {
    public let kvm: KVM
    let fd: Int32
    public let memory: GuestMemory

    /// The smallest and largest guest memory this host builds. The top stays
    /// below 3 GiB, where PCs keep their 32-bit device hole.
    public static let minimumMemorySize = 4 << 20
    public static let maximumMemorySize = 3 << 30
    public static let defaultMemorySize = 64 << 20

    public convenience init(kvm: KVM, memorySize: Int = VirtualMachine.defaultMemorySize) throws {
        try self.init(kvm: kvm, memorySize: memorySize, memory: nil)
    }

    /// A VM whose guest memory is `memory` (a snapshot's, copy-on-write), or
    /// fresh zeroed memory when nil.
    init(kvm: KVM, memorySize: Int, memory givenMemory: GuestMemory?) throws {
        guard memorySize >= Self.minimumMemorySize, memorySize <= Self.maximumMemorySize else {
            throw KVMError.invalidMemorySize(bytes: memorySize, reason: "it must lie between 4 MiB and 3 GiB")
        }
        guard memorySize % 4096 == 0 else {
            throw KVMError.invalidMemorySize(bytes: memorySize, reason: "it must be a whole number of 4 KiB pages")
        }
        self.kvm = kvm
        let fd = ckvm_ioctl_int(kvm.fd, ckvm_create_vm, 0)
        guard fd >= 0 else { throw KVMError.ioctlFailed(request: "KVM_CREATE_VM", errno: ckvm_errno()) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        do {
            memory = try givenMemory ?? GuestMemory(size: memorySize)
            precondition(memory.size == memorySize, "the memory given is the VM's size")
            var region = kvm_userspace_memory_region(
                slot: 0, flags: 0, guest_phys_addr: 0,
                memory_size: UInt64(memorySize), userspace_addr: UInt64(UInt(bitPattern: memory.base)))
            guard ckvm_ioctl_pointer(fd, ckvm_set_user_memory_region, &region) == 0 else {
                throw KVMError.ioctlFailed(request: "KVM_SET_USER_MEMORY_REGION", errno: ckvm_errno())
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// True once KVM logs the guest's writes to memory (`startDirtyLogging`).
    public private(set) var logsDirtyPages = false

    /// Has KVM log every page the guest writes from now on (slot 0 again,
    /// with KVM_MEM_LOG_DIRTY_PAGES), and the host's writes recorded too.
    /// Until a snapshot asks for it, the guest runs without the write
    /// protection logging costs.
    func startDirtyLogging() throws {
        guard !logsDirtyPages else { return }
        var region = kvm_userspace_memory_region(
            slot: 0, flags: ckvm_mem_log_dirty_pages, guest_phys_addr: 0,
            memory_size: UInt64(memory.size), userspace_addr: UInt64(UInt(bitPattern: memory.base)))
        guard ckvm_ioctl_pointer(fd, ckvm_set_user_memory_region, &region) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_SET_USER_MEMORY_REGION (dirty logging)", errno: ckvm_errno())
        }
        memory.trackHostWrites()
        logsDirtyPages = true
    }

    /// The pages written, by the guest or the host, since logging started or
    /// this was last called; the log starts empty again.
    func takeDirtyPages() throws -> PageBitmap {
        precondition(logsDirtyPages, "dirty logging started")
        let pages = memory.size / 4096
        var words = [UInt64](repeating: 0, count: (pages + 63) / 64)
        guard ckvm_get_dirty_log(fd, 0, &words) == 0 else {
            throw KVMError.ioctlFailed(request: "KVM_GET_DIRTY_LOG", errno: ckvm_errno())
        }
        var dirty = PageBitmap(pages: pages, words: words)
        if let host = memory.takeHostWrites() { dirty.formUnion(host) }
        return dirty
    }

    public func createVCPU(id: Int = 0) throws -> VCPU {
        try VCPU(vm: self, id: id)
    }
}
