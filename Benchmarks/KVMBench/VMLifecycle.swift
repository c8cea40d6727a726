import CKVM
import Glibc
import KVMHost

/// Creating and destroying a VM with 64 MiB of memory and one vCPU:
/// KVMHost's VirtualMachine and VCPU (checked capabilities, guard pages,
/// CPUID, the run area) against the bare ioctl sequence any VMM must make
/// (open, KVM_CREATE_VM, mmap, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU,
/// mmap of kvm_run, then closes and unmaps), interleaved.
func vmCreateDestroy(runs: Int) throws -> Row {
    let memorySize = 64 << 20
    let clock = ContinuousClock()
    func ours() throws -> Double {
        nanoseconds(try clock.measure {
            let vm = try VirtualMachine(kvm: KVM(), memorySize: memorySize)
            _ = try vm.createVCPU()
        })
    }
    func bare() throws -> Double {
        nanoseconds(try clock.measure { try bareCreateDestroy(memorySize: memorySize) })
    }
    _ = try ours()
    _ = try bare()
    var mine: [Double] = [], floor: [Double] = []
    for _ in 0..<runs {
        mine.append(try ours())
        floor.append(try bare())
    }
    return Row(measurement: "VM create + destroy, 64 MiB, 1 vCPU (median of \(runs))", figure: formatTime(median(mine)),
               baseline: "bare KVM ioctls " + formatTime(median(floor)), ratio: times(median(mine) / median(floor)) + " the floor")
}

private func bareCreateDestroy(memorySize: Int) throws {
    let kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)
    guard kvm >= 0 else { throw BenchmarkError("open /dev/kvm: errno \(errno)") }
    defer { close(kvm) }
    let vm = ckvm_ioctl_int(kvm, ckvm_create_vm, 0)
    guard vm >= 0 else { throw BenchmarkError("KVM_CREATE_VM: errno \(ckvm_errno())") }
    defer { close(vm) }
    guard let memory = mmap(nil, memorySize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
          memory != MAP_FAILED else { throw BenchmarkError("mmap: errno \(errno)") }
    defer { munmap(memory, memorySize) }
    var region = kvm_userspace_memory_region(slot: 0, flags: 0, guest_phys_addr: 0, memory_size: UInt64(memorySize),
                                             userspace_addr: UInt64(UInt(bitPattern: memory)))
    guard ckvm_ioctl_pointer(vm, ckvm_set_user_memory_region, &region) == 0 else {
        throw BenchmarkError("KVM_SET_USER_MEMORY_REGION: errno \(ckvm_errno())")
    }
    let vcpu = ckvm_ioctl_int(vm, ckvm_create_vcpu, 0)
    guard vcpu >= 0 else { throw BenchmarkError("KVM_CREATE_VCPU: errno \(ckvm_errno())") }
    defer { close(vcpu) }
    let runSize = Int(ckvm_ioctl(kvm, ckvm_get_vcpu_mmap_size))
    guard let run = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0), run != MAP_FAILED else {
        throw BenchmarkError("mmap kvm_run: errno \(errno)")
    }
    munmap(run, runSize)
}
