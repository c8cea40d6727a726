import GuestImage
import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// What backs guest RAM on the host (kvm only): each backing boots the
/// kernel and demand-pages a program, and the host's own page tables
/// (/proc/self/smaps) show the backing took; what the host cannot give is
/// refused by name before a VM exists.
final class MemoryBackingTests: XCTestCase {
    private func guestDemandPages(_ backing: MemoryBacking, memorySize: Int = 64 << 20) throws -> LiveGuest {
        var configuration = LiveGuest.Configuration(memorySize: memorySize)
        configuration.memoryBacking = backing
        let guest = try LiveGuest(kernel: GuestImage.kernel(), configuration: configuration)
        _ = try guest.boot()
        _ = try guest.call(RestartFrameSearch(fresh: true))  // frames the host never backed yet
        let run = try guest.runProgram("touch-bench", reportFaults: false)
        XCTAssertEqual(run.outcome, .exited(status: 0), "\(backing)")
        XCTAssertEqual(run.reallocations, 256, "\(backing)")
        XCTAssertEqual(try guest.call(Echo([7])).values, [7])
        return guest
    }

    /// Whole 2 MiB host pages back at least what the guest touched, and no more than its 64 MiB.
    private func assertHugePagesBackTheTouchedRAM(of guest: LiveGuest, line: UInt = #line) throws {
        let huge = try guest.memory.hostHugePageBytes()
        XCTAssertGreaterThanOrEqual(huge, 2 << 20, "at least the touched 2 MiB pieces are huge pages", line: line)
        XCTAssertEqual(huge % (2 << 20), 0, line: line)
        XCTAssertLessThanOrEqual(huge, 64 << 20, line: line)
    }

    func testAnonymousMemoryHasNoHugePages() throws {
        try requireKVM()
        let guest = try guestDemandPages(.anonymous)
        XCTAssertEqual(try guest.memory.hostHugePageBytes(), 0)
    }

    func testTransparentHugePagesBackTheTouchedRAM() throws {
        try requireKVM()
        let setting = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "absent"
        guard !setting.contains("[never]"), setting != "absent" else {
            throw XCTSkip("transparent huge pages are off on this host (/sys/kernel/mm/transparent_hugepage/enabled: \(setting))")
        }
        try assertHugePagesBackTheTouchedRAM(of: guestDemandPages(.transparentHugePages))
    }

    func testHugetlbPagesBackAllOfRAM() throws {
        try requireKVM()
        let free = MemoryBacking.freeHugePages()
        guard free >= 32 else {
            throw XCTSkip("hugetlb: 32 free 2 MiB huge pages needed, /proc/meminfo HugePages_Free is \(free) "
                          + "(.ci/run reserves them through /proc/sys/vm/nr_hugepages)")
        }
        try assertHugePagesBackTheTouchedRAM(of: guestDemandPages(.hugetlb))
    }

    /// More huge pages than the pool holds: refused before anything is mapped, with both counts.
    func testAPoolTooSmallIsRefusedWithItsCounts() throws {
        try requireKVM()
        let free = MemoryBacking.freeHugePages()
        let memorySize = max(64 << 20, (free + 1) * (2 << 20))
        var configuration = LiveGuest.Configuration(memorySize: memorySize)
        configuration.memoryBacking = .hugetlb
        XCTAssertThrowsError(try LiveGuest(kernel: GuestImage.kernel(), configuration: configuration)) {
            XCTAssertEqual($0 as? MemoryBackingError, .hugePagesMissing(needed: memorySize / (2 << 20), free: free), "\($0)")
        }
        XCTAssertEqual(MemoryBacking.freeHugePages(), free, "nothing was taken from the pool")
    }

    func testHugePageBackingsNeedKVM() throws {
        for backing in [MemoryBacking.transparentHugePages, .hugetlb] {
            var configuration = LiveGuest.Configuration(backend: .tcg)
            configuration.memoryBacking = backing
            XCTAssertThrowsError(try configuration.validate()) {
                XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .memoryBacking(.needsKVM(backing)), "\($0)")
            }
        }
        XCTAssertEqual(MemoryBacking.selected(in: "always [madvise] never"), "madvise")
        XCTAssertEqual(MemoryBacking.selected(in: "always madvise [never]\n"), "never")
        XCTAssertNil(MemoryBacking.selected(in: "garbage"))
    }
}
