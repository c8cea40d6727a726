import Glibc

/// Why KVM could not be used, each with what the user can do about it.
public enum KVMError: Error, Equatable, CustomStringConvertible {
    case deviceMissing(path: String)
    case permissionDenied(path: String)
    case openFailed(path: String, errno: Int32)
    case notKVMDevice(path: String, errno: Int32)
    case unsupportedAPIVersion(found: Int32, expected: Int32)
    case missingCapability(name: String)
    case ioctlFailed(request: String, errno: Int32)
    case invalidMemorySize(bytes: Int, reason: String)
    case mmapFailed(bytes: Int, errno: Int32)

    public var description: String {
        switch self {
        case .deviceMissing(let path):
            return "\(path) does not exist: KVM is not available on this machine. Load the kvm module "
                + "(modprobe kvm_intel or kvm_amd), enable virtualization in the firmware, or run on a KVM-enabled runner."
        case .permissionDenied(let path):
            return "\(path) is not readable and writable by this user. Add the user to the 'kvm' group "
                + "or install a udev rule giving it mode 0666 (see docs/ci.md, 'KVM on a CI runner')."
        case .openFailed(let path, let errno):
            return "opening \(path) failed: \(errorText(errno))"
        case .notKVMDevice(let path, let errno):
            return "\(path) does not answer KVM_GET_API_VERSION (\(errorText(errno))): it is not the KVM device. Point the host at /dev/kvm."
        case .unsupportedAPIVersion(let found, let expected):
            return "KVM API version \(found) is not the stable version \(expected) this host needs: update the kernel."
        case .missingCapability(let name):
            return "KVM lacks capability \(name), which this host relies on: update the kernel."
        case .ioctlFailed(let request, let errno):
            return "\(request) failed: \(errorText(errno))"
        case .invalidMemorySize(let bytes, let reason):
            return "guest memory of \(bytes) bytes is not possible: \(reason)"
        case .mmapFailed(let bytes, let errno):
            return "mapping \(bytes) bytes of guest memory failed: \(errorText(errno))"
        }
    }
}

func errorText(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
