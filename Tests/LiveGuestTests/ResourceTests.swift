import Foundation
import GuestImage
import KVMHost
import TestSupport
import XCTest

/// Creating and destroying VMs gives back every file descriptor and mapping.
final class ResourceTests: XCTestCase {
    private func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    private func mappings() throws -> Int {
        try String(contentsOfFile: "/proc/self/maps", encoding: .utf8).split(separator: "\n").count
    }

    func testTwoHundredVMsLeaveDescriptorsAndMappingsAsTheyWere() throws {
        try requireKVM()
        let kernel = try GuestImage.kernel()
        // One VM first, so that lazily created process-wide state (signal
        // handler, allocator arenas) exists before the baseline is taken.
        _ = try LiveGuest(kernel: kernel).boot()
        let descriptors = try openDescriptors()
        let maps = try mappings()
        for _ in 0..<200 {
            let guest = try LiveGuest(kernel: kernel)
            _ = try guest.boot()
        }
        XCTAssertEqual(try openDescriptors(), descriptors)
        XCTAssertEqual(try mappings(), maps)
    }
}
