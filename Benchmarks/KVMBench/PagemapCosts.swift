import GuestImage
import MemoryManager
import GuestProtocol
import KVMHost
import SeededRandom

/// Physical memory on the host: a zeroed buffer with a frame allocator over it.
final class SimulatedMemory {
    let base: UnsafeMutableRawPointer
    let storage: UnsafeMutablePointer<UInt64>
    var frames: FrameAllocator

    init(megabytes: Int) {
        let size = megabytes << 20
        base = .allocate(byteCount: size, alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let count = UInt64(size) >> 12
        storage = .allocate(capacity: FrameAllocator.storageWords(frameCount: count))
        frames = FrameAllocator(frameCount: count, storage: storage)
        frames.addUsable(FrameRange(start: 1, count: count - 1))
    }

    deinit {
        base.deallocate()
        storage.deallocate()
    }

    var directMap: UInt { UInt(bitPattern: base) }
}

private let arenaBase: UInt64 = 0x0000_0100_0000_0000

/// map, translate and unmap per page in the live guest (a timing loop in the
/// kernel, timed by the host, less one command round trip), next to the same
/// Pagemap source natively over simulated physical memory.
func pagemapCosts() throws -> [Row] {
    let clock = ContinuousClock()
    let pages: UInt64 = 200_000
    let memory = SimulatedMemory(megabytes: 64)
    var pagemap = Pagemap.create(frames: &memory.frames, directMap: memory.directMap)!
    let map = clock.measure {
        for index in 0..<pages {
            try! pagemap.map(Page(startingAt: arenaBase + index * 4096)!, to: Frame(number: 1), flags: [.writable],
                             frames: &memory.frames).ignore()
        }
    }
    var checksum: UInt64 = 0
    let translate = clock.measure {
        for index in 0..<pages { checksum &+= pagemap.translate(VirtualAddress(arenaBase + index * 4096 + 7)!)!.physical }
    }
    let unmap = clock.measure {
        for index in 0..<pages { try! pagemap.unmap(Page(startingAt: arenaBase + index * 4096)!, frames: &memory.frames).ignore() }
    }
    guard pagemap.tablesFreed == pagemap.tablesCreated, checksum != 0 else { throw BenchmarkError("the native Pagemap lost tables") }
    let native = [map, translate, unmap].map { nanoseconds($0) / Double(pages) }

    let guest = try LiveGuest(kernel: GuestImage.kernel())
    _ = try guest.boot()
    func time(_ call: some GuestCall) throws -> Double {
        let start = clock.now
        _ = try guest.call(call, timeout: .seconds(120))
        return nanoseconds(clock.now - start)
    }
    let roundTrip = median(try (0..<21).map { _ in try time(Echo([])) })
    let count: UInt64 = 2048
    var live: [[Double]] = [[], [], []]
    for _ in 0..<3 {
        for phase in 0..<3 {
            live[phase].append((try time(RunPagemapBenchmark(phase: RunPagemapBenchmark.Phase(rawValue: UInt64(phase))!, count: count)) - roundTrip) / Double(count))
        }
    }
    return ["map", "translate", "unmap"].enumerated().map { phase, name in
        Row(measurement: "Pagemap \(name) a page, live guest (2048 a loop)", figure: formatTime(median(live[phase])),
            baseline: "same source natively " + formatTime(native[phase]),
            ratio: String(format: "%.0fx native", median(live[phase]) / native[phase]))
    }
}

/// The memory-space fallback once the high-water mark has reached the end of
/// the arena: the gap search over the space's reservations that MemorySpace
/// keeps, against the design notes' page-by-page check of the page tables.
func memorySpaceFallback() throws -> [Row] {
    let clock = ContinuousClock()
    let arenaPages: UInt64 = 1 << 16  // 256 MiB of virtual space, all backed
    let memory = SimulatedMemory(megabytes: 400)
    var pagemap = Pagemap.create(frames: &memory.frames, directMap: memory.directMap)!
    var space = MemorySpace(base: arenaBase, limit: arenaBase + arenaPages * 4096)
    var random = SplitMix64(state: 11)
    var starts: [UInt64] = []
    // Fill the arena with eagerly backed reservations (so the page tables show
    // every allocated page, as the page-by-page check needs), then free some.
    while space.highWaterMark < space.limit {
        let left = (space.limit - space.highWaterMark) / 4096
        let size = min(UInt64.random(in: 1...64, using: &random), left)
        starts.append(try space.reserve(pages: size, backing: .eager, flags: [.writable], pagemap: &pagemap,
                                        frames: &memory.frames, zero: { _ in }, invalidate: { _ in }))
    }

    /// Walks the arena page by page from its base and takes the first run of
    /// `count` pages that the page tables do not map.
    func pageByPage(_ count: UInt64) -> UInt64? {
        var run: UInt64 = 0
        var page = space.base
        while page < space.limit {
            if case .notPresent(_, let lazy) = pagemap.locatePage(VirtualAddress(page)!), !lazy {
                run += 1
                if run == count { return page - (count - 1) * 4096 }
            } else {
                run = 0
            }
            page += 4096
        }
        return nil
    }

    /// 200 requests of 1-16 pages with both designs; each reservation is freed again, untimed.
    func compare() throws -> (pageByPage: Double, gapSearch: Double) {
        var slow: [Double] = [], fast: [Double] = []
        for _ in 0..<200 {
            let size = UInt64.random(in: 1...16, using: &random)
            var found: UInt64?
            slow.append(nanoseconds(clock.measure { found = pageByPage(size) }))
            var reserved: UInt64?
            fast.append(nanoseconds(clock.measure {
                reserved = try? space.reserve(pages: size, backing: .lazy, flags: [.writable], pagemap: &pagemap,
                                              frames: &memory.frames, zero: { _ in }, invalidate: { _ in })
            }))
            guard found == reserved else { throw BenchmarkError("the two fallbacks chose different places") }
            if let reserved { try space.free(reserved, pagemap: &pagemap, frames: &memory.frames, invalidate: { _ in }) }
        }
        return (median(slow), median(fast))
    }

    // Holes spread: a tenth of the reservations freed at random (never the
    // topmost, so the mark stays at the end of the arena).
    for start in starts.dropLast().shuffled(using: &random).prefix(starts.count / 10) {
        try space.free(start, pagemap: &pagemap, frames: &memory.frames, invalidate: { _ in })
    }
    let spread = try compare()
    // One hole near the top: fill every hole with single pages, then free
    // only the reservation below the topmost.
    while (try? space.reserve(pages: 1, backing: .eager, flags: [.writable], pagemap: &pagemap,
                              frames: &memory.frames, zero: { _ in }, invalidate: { _ in })) != nil {}
    try space.free(starts[starts.count - 2], pagemap: &pagemap, frames: &memory.frames, invalidate: { _ in })
    let nearTop = try compare()

    return [("holes spread", spread), ("one hole near the top", nearTop)].map { name, figures in
        Row(measurement: "memory-space fallback, full 256 MiB arena, \(name)", figure: "gap search " + formatTime(figures.gapSearch),
            baseline: "page-by-page check " + formatTime(figures.pageByPage),
            ratio: figures.gapSearch <= figures.pageByPage ? times(figures.pageByPage / figures.gapSearch) + " faster"
                                                          : times(figures.gapSearch / figures.pageByPage) + " slower")
    }
}
