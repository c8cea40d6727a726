// Pagemap and memory-space costs, in one run:
//
//     swift run -c release pagemap-benchmark
//
// 1. map, translate and unmap per page: natively over simulated physical
//    memory, and in the live guest (a timing loop in the kernel, timed by the
//    host, less one command round trip);
// 2. the memory-space fallback once the high-water mark has reached the end
//    of the arena: the design notes' page-by-page check against the gap
//    search over the space's reservations that MemorySpace keeps.

import Foundation
import GuestImage
import GuestMemory
import SeededRandom
import GuestProtocol
import KVMHost

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

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

let clock = ContinuousClock()

// MARK: 1a. Native

let pages: UInt64 = 200_000
let nativeBase: UInt64 = 0x0000_0100_0000_0000
let memory = SimulatedMemory(megabytes: 64)
var pagemap = Pagemap.create(frames: &memory.frames, directMap: memory.directMap)!
let mapTime = clock.measure {
    for index in 0..<pages {
        try! pagemap.map(Page(startingAt: nativeBase + index * 4096)!, to: Frame(number: 1), flags: [.writable],
                         frames: &memory.frames).ignore()
    }
}
var checksum: UInt64 = 0
let translateTime = clock.measure {
    for index in 0..<pages { checksum &+= pagemap.translate(VirtualAddress(nativeBase + index * 4096 + 7)!)!.physical }
}
let unmapTime = clock.measure {
    for index in 0..<pages {
        try! pagemap.unmap(Page(startingAt: nativeBase + index * 4096)!, frames: &memory.frames).ignore()
    }
}
precondition(pagemap.tablesFreed == pagemap.tablesCreated && checksum != 0)

// MARK: 1b. Live guest

var guestFigures: (map: Double, translate: Double, unmap: Double)?
if KVM.deviceExists() {
    let guest = try LiveGuest(kernel: GuestImage.kernel())
    _ = try guest.boot()
    func time(_ command: GuestCommand) throws -> Double {
        let start = clock.now
        let reply = try guest.execute(command, timeout: .seconds(120))
        precondition(reply.status == ReplyStatus.ok, "\(command): \(reply)")
        return nanoseconds(clock.now - start)
    }
    let roundTrip = median(try (0..<21).map { _ in try time(.echo([])) })
    let count: UInt64 = 2048
    var map: [Double] = [], translate: [Double] = [], unmap: [Double] = []
    for _ in 0..<3 {
        map.append((try time(.pagemapBenchmark(phase: 0, count: count)) - roundTrip) / Double(count))
        translate.append((try time(.pagemapBenchmark(phase: 1, count: count)) - roundTrip) / Double(count))
        unmap.append((try time(.pagemapBenchmark(phase: 2, count: count)) - roundTrip) / Double(count))
    }
    guestFigures = (median(map), median(translate), median(unmap))
}

// MARK: 2. Fallback

/// The design notes' fallback: walk the arena page by page from its base,
/// and take the first run of `count` pages that the page tables do not map.
@MainActor
func pageByPageSearch(_ count: UInt64, space: borrowing MemorySpace, pagemap: Pagemap) -> UInt64? {
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

let arenaPages: UInt64 = 1 << 16  // 256 MiB of virtual space, all backed
let fallbackMemory = SimulatedMemory(megabytes: 400)
var arenaPagemap = Pagemap.create(frames: &fallbackMemory.frames, directMap: fallbackMemory.directMap)!
var space = MemorySpace(base: nativeBase, limit: nativeBase + arenaPages * 4096)
var random = SplitMix64(state: 11)
var starts: [UInt64] = []
// Fill the arena with eagerly backed reservations (so the page tables show
// every allocated page, as the page-by-page check needs), then free a tenth.
while space.highWaterMark < space.limit {
    let left = (space.limit - space.highWaterMark) / 4096
    let size = min(UInt64.random(in: 1...64, using: &random), left)
    starts.append(try space.reserve(pages: size, backing: .eager, flags: [.writable], pagemap: &arenaPagemap,
                                    frames: &fallbackMemory.frames, zero: { _ in }))
}
// The topmost reservation is never freed, so the mark stays at the end of the arena.
/// Times 200 fallback requests of 1-16 pages with both designs on the
/// space as it is; each reservation is freed again, untimed.
@MainActor
func compareFallbacks(_ random: inout SplitMix64) throws -> (pageByPage: [Double], gapSearch: [Double]) {
    var pageByPage: [Double] = []
    var gapSearch: [Double] = []
    for _ in 0..<200 {
        let size = UInt64.random(in: 1...16, using: &random)
        var found: UInt64?
        pageByPage.append(nanoseconds(clock.measure { found = pageByPageSearch(size, space: space, pagemap: arenaPagemap) }))
        var reserved: UInt64?
        gapSearch.append(nanoseconds(clock.measure {
            reserved = try? space.reserve(pages: size, backing: .lazy, flags: [.writable], pagemap: &arenaPagemap,
                                          frames: &fallbackMemory.frames, zero: { _ in })
        }))
        precondition(found == reserved, "both designs find the same first fit")
        if let reserved { try space.free(reserved, pagemap: &arenaPagemap, frames: &fallbackMemory.frames, invalidate: { _ in }) }
    }
    return (pageByPage, gapSearch)
}

// Spread: a tenth of the reservations freed at random, so holes start low.
let shuffled = starts.dropLast().shuffled(using: &random)
for start in shuffled.prefix(starts.count / 10) {
    try space.free(start, pagemap: &arenaPagemap, frames: &fallbackMemory.frames, invalidate: { _ in })
}
let spread = try compareFallbacks(&random)
// Near the top: fill every hole with single pages, then free only the
// reservation below the topmost, so the one hole lies at the end.
var refill: [UInt64] = []
while let hole = try? space.reserve(pages: 1, backing: .eager, flags: [.writable], pagemap: &arenaPagemap,
                                    frames: &fallbackMemory.frames, zero: { _ in }) {
    refill.append(hole)
}
let secondLast = starts[starts.count - 2]
try space.free(secondLast, pagemap: &arenaPagemap, frames: &fallbackMemory.frames, invalidate: { _ in })
let nearTop = try compareFallbacks(&random)

print("Pagemap, per page (native: \(pages) pages over simulated memory; live guest: 2048 pages a loop, median of 3)")
print(String(format: "  %-10@ native %8.1f ns", "map" as NSString, nanoseconds(mapTime) / Double(pages)), terminator: "")
print(guestFigures.map { String(format: "   live guest %8.1f us", $0.map / 1000) } ?? "   live guest: no /dev/kvm")
print(String(format: "  %-10@ native %8.1f ns", "translate" as NSString, nanoseconds(translateTime) / Double(pages)), terminator: "")
print(guestFigures.map { String(format: "   live guest %8.1f us", $0.translate / 1000) } ?? "")
print(String(format: "  %-10@ native %8.1f ns", "unmap" as NSString, nanoseconds(unmapTime) / Double(pages)), terminator: "")
print(guestFigures.map { String(format: "   live guest %8.1f us", $0.unmap / 1000) } ?? "")
print("memory-space fallback at the end of a full arena (\(arenaPages) pages, \(starts.count) reservations), 200 requests of 1-16 pages:")
for (name, figures) in [("holes spread (a tenth freed)", spread), ("one hole near the top", nearTop)] {
    print("  \(name):")
    print(String(format: "    page-by-page check (design notes)   median %10.1f us   max %10.1f us",
                 median(figures.pageByPage) / 1000, figures.pageByPage.max()! / 1000))
    print(String(format: "    gap search over reservations (kept) median %10.1f us   max %10.1f us",
                 median(figures.gapSearch) / 1000, figures.gapSearch.max()! / 1000))
}
