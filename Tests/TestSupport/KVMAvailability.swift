import KVMHost
import XCTest

/// Skips the calling test, by name of the device, where /dev/kvm is missing.
public func requireKVM(file: StaticString = #filePath, line: UInt = #line) throws {
    guard KVM.deviceExists() else {
        throw XCTSkip("/dev/kvm is missing: this test boots a live guest and needs KVM", file: file, line: line)
    }
}
