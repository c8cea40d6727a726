// Mappings in the kernel's own, loaded address space, read and written
// through the MMU: what a load really returns. PML4 slot 3, which nothing
// else in the kernel uses.

private let base: UInt64 = 0x0000_0180_0000_0000

enum LiveMappingCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("aliasesSeeEachOthersWrites") { (expect: inout Expect) in
            let frame = CaseSupport.takeFrame()
            CaseSupport.zero(frame)
            let writer = base, reader = base + (1 << 30)
            expect.succeeds("map a writable and a read-only alias") { () throws(MapError) in
                try KernelAddressSpace.pagemap.map(CaseSupport.page(writer), to: frame, flags: [.writable, .noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
                try KernelAddressSpace.pagemap.map(CaseSupport.page(reader), to: frame, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            let write = UnsafeMutableRawPointer(bitPattern: UInt(writer))!
            let read = UnsafeRawPointer(bitPattern: UInt(reader))!
            for (offset, value) in [(0, 0x1122_3344_5566_7788 as UInt64), (0x800, 0xDEAD_BEEF), (0xFF8, ~0)] {
                write.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
                expect.equal(read.load(fromByteOffset: offset, as: UInt64.self), value, "a write through one alias is read through the other")
                expect.equal(KernelLayout.directMap(frame.address).load(fromByteOffset: offset, as: UInt64.self), value,
                             "and through the direct map")
            }
            expect.that(KernelAddressSpace.pagemap.translate(CaseSupport.address(reader))?.flags.contains(.writable) == false,
                        "the reader alias stays read-only")
            for address in [writer, reader] {
                expect.succeeds("unmap an alias") { () throws(UnmapError) in
                    try KernelAddressSpace.pagemap.unmap(CaseSupport.page(address), frames: &PhysicalMemory.frames)
                        .flush { TLB.invalidate($0, at: .inGuestTestCase) }
                }
            }
            PhysicalMemory.free(frame)
        },
        GuestTestCase("remappedPageShowsTheNewFrame") { (expect: inout Expect) in
            let first = CaseSupport.takeFrame(), second = CaseSupport.takeFrame()
            KernelLayout.directMap(first.address).storeBytes(of: 0x1111, as: UInt64.self)
            KernelLayout.directMap(second.address).storeBytes(of: 0x2222, as: UInt64.self)
            let pointer = UnsafeRawPointer(bitPattern: UInt(base))!
            expect.succeeds("map the first frame") { () throws(MapError) in
                try KernelAddressSpace.pagemap.map(CaseSupport.page(base), to: first, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            expect.equal(pointer.load(as: UInt64.self), 0x1111, "the page reads the first frame")
            expect.succeeds("unmap the first") { () throws(UnmapError) in
                try KernelAddressSpace.pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            expect.succeeds("remap to the second") { () throws(MapError) in
                try KernelAddressSpace.pagemap.map(CaseSupport.page(base), to: second, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            expect.equal(pointer.load(as: UInt64.self), 0x2222, "after the flush the page reads the second frame, not a stale TLB entry")
            expect.succeeds("unmap") { () throws(UnmapError) in
                try KernelAddressSpace.pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            PhysicalMemory.free(first)
            PhysicalMemory.free(second)
        },
        GuestTestCase("readMemorySeesWhatALoadSees") { (expect: inout Expect) in
            let frame = CaseSupport.takeFrame()
            for index in 0..<512 { KernelLayout.directMap(frame.address).storeBytes(of: UInt64(index) &* 0x0101_0101, toByteOffset: index * 8, as: UInt64.self) }
            expect.succeeds("map") { () throws(MapError) in
                try KernelAddressSpace.pagemap.map(CaseSupport.page(base), to: frame, flags: [.noExecute],
                                                   frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            do throws(CallError) {
                let bytes = try ReadMemory(virtual: base + 0xFF0, count: 16).perform().bytes
                let pointer = UnsafeRawPointer(bitPattern: UInt(base))!
                var same = bytes.count == 16
                for index in 0..<min(bytes.count, 16) where bytes[index] != pointer.load(fromByteOffset: 0xFF0 + index, as: UInt8.self) { same = false }
                expect.that(same, "the call's bytes are the loads' bytes", UInt64(bytes.count))
                _ = try ReadMemory(virtual: base + 0xFF8, count: 16).perform()
                expect.that(false, "a read into the unmapped next page is refused")
            } catch {
                expect.that(error == .unreadable(address: base + 0x1000), "refused at the first unmapped byte")
            }
            expect.succeeds("unmap") { () throws(UnmapError) in
                try KernelAddressSpace.pagemap.unmap(CaseSupport.page(base), frames: &PhysicalMemory.frames).flush { TLB.invalidate($0, at: .inGuestTestCase) }
            }
            PhysicalMemory.free(frame)
        },
    ]

}
