import Glibc
import KVMHost
import XCTest

/// Skips the calling test, by name of the device, where /dev/kvm is missing.
public func requireKVM(file: StaticString = #filePath, line: UInt = #line) throws {
    guard KVM.deviceExists() else {
        throw XCTSkip("/dev/kvm is missing: this test boots a live guest and needs KVM", file: file, line: line)
    }
}

/// Skips the calling test, naming why, where QEMU (the tcg backend) cannot run.
public func requireQEMU(file: StaticString = #filePath, line: UInt = #line) throws {
    if let reason = Backend.tcg.unavailableReason { throw XCTSkip("this test runs the tcg backend: \(reason)", file: file, line: line) }
}

/// Skips the calling test under AddressSanitizer or ThreadSanitizer, whose
/// runtimes map, hold and quarantine memory of their own: a test that counts
/// the process's mappings or resident memory would measure the sanitizer.
public func skipUnderSanitizer(_ reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
    // dlsym(RTLD_DEFAULT, ...): the runtime's entry point is there only when it is linked in.
    for (runtime, name) in [("__asan_init", "AddressSanitizer"), ("__tsan_init", "ThreadSanitizer")] where dlsym(nil, runtime) != nil {
        throw XCTSkip("\(name) is running: \(reason)", file: file, line: line)
    }
}
