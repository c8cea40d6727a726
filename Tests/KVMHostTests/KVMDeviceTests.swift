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

    func testPermissionAdviceNamesTheUdevRule() {
        XCTAssertTrue(KVMError.permissionDenied(path: "/dev/kvm").description.contains("udev rule"))
    }

    func testRealDeviceHasTheStableAPI() throws {
        try requireKVM()
        XCTAssertEqual(try KVM().apiVersion, 12)
    }

    func testImpossibleMemorySizesAreRefused() throws {
        try requireKVM()
        let kvm = try KVM()
        for size in [0, 1 << 20, (64 << 20) + 1, 4 << 30] {
            XCTAssertThrowsError(try VirtualMachine(kvm: kvm, memorySize: size)) { error in
                guard case .invalidMemorySize(let bytes, _)? = error as? KVMError else { return XCTFail("\(error)") }
                XCTAssertEqual(bytes, size)
            }
        }
    }
}
