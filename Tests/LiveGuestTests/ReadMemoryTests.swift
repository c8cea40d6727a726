import GuestImage
import KVMHost
import TestSupport
import XCTest

/// Reading memory as the guest sees it: through the kernel's own page
/// tables, not by physical address.
final class ReadMemoryTests: GuestBehaviourTestCase {
    func testReadsThroughTheGuestsMappings() throws {
        try onEachBackend { backend in
            let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: .init(backend: backend))
            let ready = try guest.boot()
            // Two pages mapped in the reverse order of their frames: a read across
            // the page boundary must follow the mappings, not physical order.
            let frames = try guest.call(AllocateFrames(count: 2))
            let virtual: UInt64 = 0x0000_0100_4000_0000
            _ = try guest.call(MapPage(virtual: virtual, frame: .existing(physical: frames[1]), flags: [.noExecute]))
            _ = try guest.call(MapPage(virtual: virtual + 4096, frame: .existing(physical: frames[0]), flags: [.noExecute]))
            let first = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let second = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 13 + 1) }
            try guest.memory.write(first, at: frames[1])
            try guest.memory.write(second, at: frames[0])

            XCTAssertEqual(try guest.call(ReadMemory(virtual: virtual + 4000, count: 200)).bytes,
                           Array(first[4000...] + second[..<104]))
            XCTAssertEqual(try guest.call(ReadMemory(virtual: virtual, count: 0)).bytes, [])
            XCTAssertEqual(try guest.call(ReadMemory(virtual: virtual + 4096, count: ReadMemory.limit)).bytes,
                           Array(second[..<Int(ReadMemory.limit)]))
            // The kernel's text segment, at its link address, reads as the bytes
            // the ELF loaded at its physical address.
            let image = try ELFImage(bytes: GuestImage.kernel())
            let text = try XCTUnwrap(image.segments.first { $0.virtualAddress >= ready.kernelVirtualBase })
            let physical = try guest.memory.withBytes(at: text.physicalRange.lowerBound, count: 64) { Array($0) }
            XCTAssertEqual(try guest.call(ReadMemory(virtual: text.virtualAddress, count: 64)).bytes, physical)

            XCTAssertCallFails(try guest.call(ReadMemory(virtual: virtual + 8000, count: 400)), .unreadable(address: virtual + 8192))
            XCTAssertCallFails(try guest.call(ReadMemory(virtual: 0x0000_8000_0000_0000, count: 1)), .unreadable(address: 0x0000_8000_0000_0000))
            XCTAssertCallFails(try guest.call(ReadMemory(virtual: virtual, count: ReadMemory.limit + 1)),
                               .tooMany(requested: ReadMemory.limit + 1, limit: ReadMemory.limit))
            XCTAssertCallFails(try guest.call(ReadMemory(virtual: 0, count: 1)), .unreadable(address: 0))  // page 0 is never mapped
        }
    }
}
