// The frame allocator, as the kernel runs it over the machine's real map.

enum FrameCases {
    /// This file's cases, in the order the kernel runs them: each is
    /// named once, here, and is registered by being in this list.
    static let cases: [GuestTestCase] = [
        GuestTestCase("framesAreHandedOutOnce") { (expect: inout Expect) in
            let before = PhysicalMemory.frames.freeFrames
            var taken: [Frame] = []
            for _ in 0..<64 {
                guard let frame = PhysicalMemory.frames.allocate() else { break }
                expect.that(!taken.contains(frame), "a frame is handed out once", frame.address)
                expect.that(!PhysicalMemory.frames.isFree(frame), "a frame handed out is not free", frame.address)
                taken.append(frame)
            }
            expect.equal(UInt64(taken.count), 64, "64 frames were free")
            expect.equal(PhysicalMemory.frames.freeFrames, before - 64, "the free count drops by 64")
            for frame in taken { PhysicalMemory.free(frame) }
            expect.equal(PhysicalMemory.frames.freeFrames, before, "every frame comes back")
        },
        GuestTestCase("contiguousRunsAreAlignedAndDisjoint") { (expect: inout Expect) in
            guard let first = PhysicalMemory.frames.allocateContiguous(count: 8, alignment: 8),
                  let second = PhysicalMemory.frames.allocateContiguous(count: 8, alignment: 8) else {
                return expect.that(false, "two runs of 8 frames are free")
            }
            expect.equal(first.number % 8, 0, "the first run is aligned to 8 frames")
            expect.equal(second.number % 8, 0, "the second run is aligned to 8 frames")
            expect.that(first.number + 8 <= second.number || second.number + 8 <= first.number, "the runs do not overlap",
                        first.address, second.address)
            for offset in 0..<UInt64(8) {
                expect.that(!PhysicalMemory.frames.isFree(Frame(number: first.number + offset)), "every frame of a run is taken")
            }
            for offset in 0..<UInt64(8) {
                PhysicalMemory.free(Frame(number: first.number + offset))
                PhysicalMemory.free(Frame(number: second.number + offset))
            }
        },
        GuestTestCase("refusedFreesChangeNothing") { (expect: inout Expect) in
            let frame = CaseSupport.takeFrame()
            PhysicalMemory.free(frame)
            let free = PhysicalMemory.frames.freeFrames
            do throws(FrameError) {
                try PhysicalMemory.frames.free(frame)
                expect.that(false, "a second free is refused")
            } catch {
                expect.that(error == .doubleFree(frame: frame.number), "a second free is a double free", frame.address)
            }
            let image = Frame(containing: UInt64(KernelLayout.current.image_physical_start))
            do throws(FrameError) {
                try PhysicalMemory.frames.free(image)
                expect.that(false, "a kernel-image frame cannot be freed")
            } catch {
                expect.that(error == .reservedFrame(frame: image.number), "the image's frames are reserved", image.address)
            }
            let beyond = Frame(number: PhysicalMemory.frames.frameCount)
            do throws(FrameError) {
                try PhysicalMemory.frames.free(beyond)
                expect.that(false, "a frame past the end cannot be freed")
            } catch {
                expect.that(error == .outOfRange(frame: beyond.number, frameCount: PhysicalMemory.frames.frameCount),
                            "past the end is out of range", beyond.address)
            }
            expect.equal(PhysicalMemory.frames.freeFrames, free, "no refused free changed the count")
        },
        GuestTestCase("reservedFramesAreNeverHandedOut") { (expect: inout Expect) in
            expect.that(PhysicalMemory.frames.isReserved(Frame(number: 0)), "page zero is reserved")
            for index in 0..<PhysicalMemory.reservationCount {
                let range = PhysicalMemory.reservations[index].range
                for number in range.start..<range.end {
                    expect.that(PhysicalMemory.frames.isReserved(Frame(number: number)), "a boot reservation's frame is reserved", number)
                }
            }
            // Take 256 frames: none is reserved, none lies in a boot reservation.
            var taken: [Frame] = []
            for _ in 0..<256 {
                guard let frame = PhysicalMemory.frames.allocate() else { break }
                expect.that(!PhysicalMemory.frames.isReserved(frame), "an allocated frame is never a reserved one", frame.address)
                taken.append(frame)
            }
            expect.equal(UInt64(taken.count), 256, "256 frames were free")
            for frame in taken { PhysicalMemory.free(frame) }
        },
        GuestTestCase("freedFramesMustBeZeroedBeforeReuse") { (expect: inout Expect) in
            guard let (frame, _) = PhysicalMemory.frames.allocateTrackingZero() else { return expect.that(false, "a frame is free") }
            KernelLayout.directMap(frame.address).storeBytes(of: 0x5A5A, as: UInt64.self)
            PhysicalMemory.free(frame)
            expect.that(PhysicalMemory.frames.mustZero(frame), "a freed frame may hold data", frame.address)
            PhysicalMemory.frames.startSearch(at: frame)
            guard let (again, mustZero) = PhysicalMemory.frames.allocateTrackingZero() else { return expect.that(false, "it is free again") }
            expect.equal(again.address, frame.address, "the search starts at the freed frame")
            expect.that(mustZero, "handing it out again says it must be zeroed", again.address)
            PhysicalMemory.free(again)
            PhysicalMemory.frames.startSearch(at: Frame(number: PhysicalMemory.frames.handedOutBelow))
        },
    ]

}
