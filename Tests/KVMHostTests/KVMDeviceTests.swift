import Glibc
import KVMHost
import TestSupport
import XCTest

/// Opening KVM fails with errors that tell the user what to do.
final class KVMDeviceTests: XCTestCase {
    func testMissingDeviceSaysHowToGetKVM() {
        XCTAssertThrowsError(try KVM(path: "/nonexistent/kvm")) { error in
            XCTAssertEqual(error as? KVMError, .deviceMissing(path: "/nonexistent/kvm"))
            XCTAssertTrue("\(error)".contains("modprobe"), "\(error)")
        }
    }

    func testADeviceThatIsNotKVMIsNamed() {
        XCTAssertThrowsError(try KVM(path: "/dev/null")) { error in
            guard case .notKVMDevice(let path, _)? = error as? KVMError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/dev/null")
        }
    }

    /// A device this user may not open read-write is named, with what to do.
    /// (Root may open almost anything; a read-only sysfs attribute refuses
    /// even root a read-write open with EACCES.)
    func testPermissionDeniedNamesTheUdevRule() throws {
        let path = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
        guard access(path, F_OK) == 0 else { throw XCTSkip("\(path) is missing: no read-only file to open here") }
        XCTAssertThrowsError(try KVM(path: path)) { error in
            XCTAssertEqual(error as? KVMError, .permissionDenied(path: path))
            XCTAssertTrue("\(error)".contains("udev rule"), "\(error)")
        }
    }

    func testRealDeviceHasTheStableAPI() throws {
        try requireKVM()
        XCTAssertEqual(try KVM().apiVersion, 12)
    }

    func testImpossibleMemorySizesAreRefused() throws {
        try requireKVM()
        let kvm = try KVM()
        for size in [0, 1 << 20, (64 << 20) + 1, (256 << 30) + 4096, Int.max] {
            XCTAssertThrowsError(try VirtualMachine(kvm: kvm, memorySize: size)) { error in
                guard case .invalidMemorySize(let bytes, _)? = error as? KVMError else { return XCTFail("\(error)") }
                XCTAssertEqual(bytes, size)
            }
        }
    }
}
