// What the in-kernel cases share: a private Pagemap over the kernel's real
// frames and direct map (never loaded in CR3, so no TLB holds its entries),
// and the checks every case ends with.

enum CaseSupport {
    static var directMap: UInt { KernelLayout.current.direct_map_base }

    /// A new, empty Pagemap whose tables come from the kernel's allocator.
    static func newPagemap() -> Pagemap {
        guard let pagemap = Pagemap.create(frames: &PhysicalMemory.frames, directMap: directMap) else {
            kernelPanic("out of physical memory", 0, detail: "a test case's Pagemap")
        }
        return pagemap
    }

    /// Frees the root of a Pagemap that has no mapping left, after checking
    /// that every table it built on the way was freed again.
    static func release(_ pagemap: Pagemap, _ expect: inout Expect, file: StaticString = #filePath, line: UInt = #line) {
        expect.equal(UInt64(pagemap.tablesFreed), UInt64(pagemap.tablesCreated), "every table built was freed",
                     file: file, line: line)
        PhysicalMemory.free(pagemap.root)
    }

    static func takeFrame() -> Frame { PhysicalMemory.requireFrame(for: "a kernel test case") }

    static func zero(_ frame: Frame) {
        KernelLayout.directMap(frame.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize))
    }

    /// `flags` as the Pagemap writes them on this CPU: without NX, no bit 63.
    static func asMapped(_ flags: PageTableFlags) -> PageTableFlags { PageTableEntry(address: 0, flags: flags).flags }

    static func page(_ address: UInt64) -> Page { Page(startingAt: address)! }
    static func address(_ raw: UInt64) -> VirtualAddress { VirtualAddress(raw)! }
    static func hugePage(_ raw: UInt64) -> HugePage { HugePage(startingAt: raw)! }
    static func hugeFrame(_ first: Frame) -> HugeFrame { HugeFrame(startingAt: first.address)! }

    /// The flags of the entry at `level` (4 = PML4 ... 1 = PT) on the way to `address`.
    static func entryFlags(_ pagemap: Pagemap, _ address: UInt64, level: Int) -> PageTableFlags {
        let entries = pagemap.entries(on: VirtualAddress(address)!)
        let index = 4 - level
        return index < entries.count ? entries[index].flags : []
    }
}

/// A Pagemap refusal a case can expect or report: a code a case, for the
/// failure's values.
protocol PagemapRefusal: Error, Equatable {
    var code: UInt64 { get }
}

extension MapError: PagemapRefusal {
    var code: UInt64 {
        switch self {
        case .alreadyMapped: 1
        case .frameAllocationFailed: 2
        case .parentIsHugePage: 3
        }
    }
}

extension UnmapError: PagemapRefusal {
    var code: UInt64 {
        switch self {
        case .notMapped: 4
        case .parentIsHugePage: 5
        }
    }
}

extension Expect {
    /// A Pagemap request that must succeed; a refusal is a failed
    /// expectation carrying the error's code.
    @inline(never)
    mutating func succeeds<Refusal: PagemapRefusal>(_ text: StaticString, file: StaticString = #filePath, line: UInt = #line,
                                                    _ body: () throws(Refusal) -> Void) {
        do throws(Refusal) {
            try body()
            that(true, text, file: file, line: line)
        } catch {
            that(false, text, error.code, file: file, line: line)
        }
    }

    /// A Pagemap request that must be refused with exactly `expected`.
    @inline(never)
    mutating func fails<Refusal: PagemapRefusal>(_ expected: Refusal, _ text: StaticString, file: StaticString = #filePath,
                                                 line: UInt = #line, _ body: () throws(Refusal) -> Void) {
        do throws(Refusal) {
            try body()
            that(false, text, 0, expected.code, file: file, line: line)
        } catch {
            that(error == expected, text, error.code, expected.code, file: file, line: line)
        }
    }
}
