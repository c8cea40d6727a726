import GuestProtocol

/// What the host can ask the guest kernel to do over the report channel.
public enum GuestCommand: Equatable, Sendable {
    /// Reply with these values: a round trip through the channel.
    case echo([UInt64])
    /// Raise CPU exception `vector` in the kernel; for #PF (14), by reading `address`.
    case raiseException(vector: UInt64, address: UInt64 = 0)
    /// Loop forever in the kernel.
    case spin
    /// GUEST_ASSERT(a == b) in the kernel.
    case assertEqual(UInt64, UInt64)
    /// Exit with `status`.
    case shutdown(status: UInt32)
    /// Run arrays and classes on the kernel heap with `count` elements.
    case exerciseHeap(count: UInt64)
    /// The frame allocator's counts and boot reservations.
    case frameStatistics
    /// Allocate up to `count` frames (at most `maximumFramesPerReply`).
    case allocateFrames(count: UInt64)
    /// Free the frame at `address`; a refused free is a kernel panic.
    case freeFrame(address: UInt64)
    /// `count` contiguous frames aligned to `alignment` frames.
    case allocateContiguous(count: UInt64, alignment: UInt64)
    case queryFrame(address: UInt64)
    /// Allocate every free frame, marking each in guest memory.
    case exhaustFrames
    /// Free every frame `exhaustFrames` took.
    case freeExhausted
    /// Allocate a frame the kernel cannot do without (panic when none is left).
    case requireFrame
    /// Map `virtual` in the kernel's live address space to `physical`
    /// (`noFrame`: a frame from the allocator) with raw page-table `flags`.
    case mapPage(virtual: UInt64, physical: UInt64, flags: UInt64)
    /// Unmap `virtual`, freeing its frame when `freeFrame`.
    case unmapPage(virtual: UInt64, freeFrame: Bool)
    case translate(virtual: UInt64)
    case pagemapCounts
    /// Run the kernel-mode access checks (see `AccessCheck`).
    case accessChecks
    /// Reserve pages in the kernel's test memory space.
    case spaceReserve(pages: UInt64, eager: Bool, flags: UInt64)
    case spaceFree(start: UInt64)
    case spaceQuery(address: UInt64)
    /// A timing loop: `phase` 0 map, 1 translate, 2 unmap, over `count` pages.
    case pagemapBenchmark(phase: UInt64, count: UInt64)
    /// Run the kernel monitor on the serial console until it is left.
    case monitor
    case listPrograms
    /// Set aside guest memory for a program image of `bytes` bytes.
    case programBuffer(bytes: UInt64)
    /// Run the image written at `physical` (a program buffer).
    case runImage(physical: UInt64, bytes: UInt64, reportFaults: Bool)
    /// Run a built-in program with every page fault skipped (benchmarks).
    case runSkippingFaults(index: UInt64)
    /// Run the user-mode access checks (see `UserAccessCheck`).
    case userAccessChecks
    /// Point the frame allocator at frame 0 (frames that need zeroing first),
    /// or, when `fresh`, past every frame handed out (known-zero frames first).
    case restartFrameSearch(fresh: Bool)
    /// Run built-in program `index` in a process of its own.
    case runProgram(index: UInt64, reportFaults: Bool)

    var words: [UInt64] {
        switch self {
        case .echo(let values): return [CommandCode.echo] + values
        case .raiseException(let vector, let address): return [CommandCode.raiseException, vector, address]
        case .spin: return [CommandCode.spin]
        case .assertEqual(let a, let b): return [CommandCode.assertEqual, a, b]
        case .shutdown(let status): return [CommandCode.shutdown, UInt64(status)]
        case .exerciseHeap(let count): return [CommandCode.exerciseHeap, count]
        case .frameStatistics: return [CommandCode.frameStatistics]
        case .allocateFrames(let count): return [CommandCode.allocateFrames, count]
        case .freeFrame(let address): return [CommandCode.freeFrame, address]
        case .allocateContiguous(let count, let alignment): return [CommandCode.allocateContiguous, count, alignment]
        case .queryFrame(let address): return [CommandCode.queryFrame, address]
        case .exhaustFrames: return [CommandCode.exhaustFrames]
        case .freeExhausted: return [CommandCode.freeExhausted]
        case .requireFrame: return [CommandCode.requireFrame]
        case .mapPage(let virtual, let physical, let flags): return [CommandCode.mapPage, virtual, physical, flags]
        case .unmapPage(let virtual, let freeFrame): return [CommandCode.unmapPage, virtual, freeFrame ? 1 : 0]
        case .translate(let virtual): return [CommandCode.translate, virtual]
        case .pagemapCounts: return [CommandCode.pagemapCounts]
        case .accessChecks: return [CommandCode.accessChecks]
        case .spaceReserve(let pages, let eager, let flags): return [CommandCode.spaceReserve, pages, eager ? 1 : 0, flags]
        case .spaceFree(let start): return [CommandCode.spaceFree, start]
        case .spaceQuery(let address): return [CommandCode.spaceQuery, address]
        case .pagemapBenchmark(let phase, let count): return [CommandCode.pagemapBenchmark, phase, count]
        case .monitor: return [CommandCode.monitor]
        case .listPrograms: return [CommandCode.listPrograms]
        case .programBuffer(let bytes): return [CommandCode.programBuffer, bytes]
        case .runImage(let physical, let bytes, let reportFaults): return [CommandCode.runImage, physical, bytes, reportFaults ? 1 : 0]
        case .runSkippingFaults(let index): return [CommandCode.runSkippingFaults, index]
        case .userAccessChecks: return [CommandCode.userAccessChecks]
        case .restartFrameSearch(let fresh): return [CommandCode.restartFrameSearch, fresh ? 1 : 0]
        case .runProgram(let index, let reportFaults): return [CommandCode.runProgram, index, reportFaults ? 1 : 0]
        }
    }
}
