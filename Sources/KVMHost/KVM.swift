import CKVM
import Glibc

/// An open /dev/kvm, checked for the API version and every capability this
/// host relies on. Owns its file descriptor.
public final class KVM {
    public let path: String
    let fd: Int32
    public let apiVersion: Int32
    /// The size of each vCPU's shared kvm_run area.
    let vcpuMapSize: Int

    public init(path: String = "/dev/kvm") throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT, ENODEV, ENXIO: throw KVMError.deviceMissing(path: path)
            case EACCES, EPERM: throw KVMError.permissionDenied(path: path)
            default: throw KVMError.openFailed(path: path, errno: code)
            }
        }
        self.fd = fd
        do {
            let version = ckvm_ioctl(fd, ckvm_get_api_version)
            guard version >= 0 else { throw KVMError.notKVMDevice(path: path, errno: ckvm_errno()) }
            guard version == ckvm_api_version else {
                throw KVMError.unsupportedAPIVersion(found: version, expected: ckvm_api_version)
            }
            apiVersion = version
            for (capability, name) in [(ckvm_cap_user_memory, "KVM_CAP_USER_MEMORY"),
                                       (ckvm_cap_immediate_exit, "KVM_CAP_IMMEDIATE_EXIT"),
                                       (ckvm_cap_ext_cpuid, "KVM_CAP_EXT_CPUID")] {
                guard ckvm_ioctl_int(fd, ckvm_check_extension, UInt(capability)) > 0 else {
                    throw KVMError.missingCapability(name: name)
                }
            }
            let mapSize = ckvm_ioctl(fd, ckvm_get_vcpu_mmap_size)
            guard mapSize > 0 else { throw KVMError.ioctlFailed(request: "KVM_GET_VCPU_MMAP_SIZE", errno: ckvm_errno()) }
            vcpuMapSize = Int(mapSize)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// True when `path` exists, so that tests can say why they skip.
    /// True when KVM_CHECK_EXTENSION reports `capability`.
    func supports(_ capability: Int32) -> Bool {
        ckvm_ioctl_int(fd, ckvm_check_extension, UInt(capability)) > 0
    }

    public static func deviceExists(at path: String = "/dev/kvm") -> Bool {
        access(path, F_OK) == 0
    }
}
