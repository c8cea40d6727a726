#if canImport(GuestMemory)
import GuestMemory
#endif

// Why a call the kernel ran did not succeed: the typed error a call's
// `perform` throws and the host receives. Each case says what was refused
// and the value that made it so.

public enum CallError: Error, Equatable, Sendable {
    case map(MapError)
    case unmap(UnmapError)
    case memorySpace(MemorySpaceError)
    case frame(FrameError)
    /// No free frame, or no run of frames as asked, is left.
    case outOfFrames
    /// The physical address lies past the end of guest RAM.
    case beyondMemory(address: UInt64)
    /// A physical address that does not start a frame (4 KiB, or 2 MiB for a huge page).
    case misalignedFrame(address: UInt64)
    /// A virtual address outside the canonical lower and upper halves.
    case nonCanonical(address: UInt64)
    /// A virtual address that does not start a page (4 KiB, or 2 MiB for a huge one).
    case misalignedPage(address: UInt64)
    /// The page belongs to the kernel itself (its image, stacks, heap or
    /// direct map): changing it would break the kernel.
    case kernelPage(address: UInt64)
    /// The frame holds one of the kernel's live page tables.
    case pageTableFrame(address: UInt64)
    case noSuchProgram(index: UInt64)
    case noSuchTest(index: UInt64)
    /// The program image is not one the kernel can load.
    case imageRefused
    /// `address` is not mapped readable in the kernel's address space.
    case unreadable(address: UInt64)
    /// More than the call can take in one reply.
    case tooMany(requested: UInt64, limit: UInt64)
    /// The frame is the kernel's (a boot reservation: page zero, its image,
    /// the bootstrap tables, the start info, the memory map, the frame
    /// bitmap; or a live page table): no call maps it writable or
    /// user-accessible.
    case kernelFrame(address: UInt64)
    /// A mapping a call made (MapPage) still points at the frame, at
    /// `virtual` (the newest of `mappings`): it is not freed under it.
    case frameStillMapped(address: UInt64, virtual: UInt64, mappings: UInt64)
    /// A writable or user mapping of a free frame: the allocator could hand
    /// it out (to a page table, even the one this map creates) while the
    /// page reaches it. Allocate it first.
    case unallocatedFrame(address: UInt64)
    /// The page lies in a reservation of the test memory space (which
    /// starts at `reservation`): its pages are the space's, mapped and freed
    /// by reserve, the page trap and release, not by MapPage or UnmapPage.
    case memorySpacePage(address: UInt64, reservation: UInt64)
}

extension CallError: Wire {
    private enum Tag: UInt64 {
        case map = 1, unmap, memorySpace, frame, outOfFrames, beyondMemory, misalignedFrame, nonCanonical, misalignedPage,
             kernelPage, pageTableFrame, noSuchProgram, noSuchTest, imageRefused, unreadable, tooMany, kernelFrame, frameStillMapped,
             unallocatedFrame, memorySpacePage
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .map: self = .map(try decoder.decode())
        case .unmap: self = .unmap(try decoder.decode())
        case .memorySpace: self = .memorySpace(try decoder.decode())
        case .frame: self = .frame(try decoder.decode())
        case .outOfFrames: self = .outOfFrames
        case .beyondMemory: self = .beyondMemory(address: try decoder.word())
        case .misalignedFrame: self = .misalignedFrame(address: try decoder.word())
        case .nonCanonical: self = .nonCanonical(address: try decoder.word())
        case .misalignedPage: self = .misalignedPage(address: try decoder.word())
        case .kernelPage: self = .kernelPage(address: try decoder.word())
        case .pageTableFrame: self = .pageTableFrame(address: try decoder.word())
        case .noSuchProgram: self = .noSuchProgram(index: try decoder.word())
        case .noSuchTest: self = .noSuchTest(index: try decoder.word())
        case .imageRefused: self = .imageRefused
        case .unreadable: self = .unreadable(address: try decoder.word())
        case .tooMany: self = .tooMany(requested: try decoder.word(), limit: try decoder.word())
        case .kernelFrame: self = .kernelFrame(address: try decoder.word())
        case .unallocatedFrame: self = .unallocatedFrame(address: try decoder.word())
        case .memorySpacePage: self = .memorySpacePage(address: try decoder.word(), reservation: try decoder.word())
        case .frameStillMapped: self = .frameStillMapped(address: try decoder.word(), virtual: try decoder.word(), mappings: try decoder.word())
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .map(let error): encoder.word(Tag.map.rawValue); encoder.encode(error)
        case .unmap(let error): encoder.word(Tag.unmap.rawValue); encoder.encode(error)
        case .memorySpace(let error): encoder.word(Tag.memorySpace.rawValue); encoder.encode(error)
        case .frame(let error): encoder.word(Tag.frame.rawValue); encoder.encode(error)
        case .outOfFrames: encoder.word(Tag.outOfFrames.rawValue)
        case .beyondMemory(let address): encoder.word(Tag.beyondMemory.rawValue); encoder.word(address)
        case .misalignedFrame(let address): encoder.word(Tag.misalignedFrame.rawValue); encoder.word(address)
        case .nonCanonical(let address): encoder.word(Tag.nonCanonical.rawValue); encoder.word(address)
        case .misalignedPage(let address): encoder.word(Tag.misalignedPage.rawValue); encoder.word(address)
        case .kernelPage(let address): encoder.word(Tag.kernelPage.rawValue); encoder.word(address)
        case .pageTableFrame(let address): encoder.word(Tag.pageTableFrame.rawValue); encoder.word(address)
        case .noSuchProgram(let index): encoder.word(Tag.noSuchProgram.rawValue); encoder.word(index)
        case .noSuchTest(let index): encoder.word(Tag.noSuchTest.rawValue); encoder.word(index)
        case .imageRefused: encoder.word(Tag.imageRefused.rawValue)
        case .unreadable(let address): encoder.word(Tag.unreadable.rawValue); encoder.word(address)
        case .tooMany(let requested, let limit): encoder.word(Tag.tooMany.rawValue); encoder.word(requested); encoder.word(limit)
        case .kernelFrame(let address): encoder.word(Tag.kernelFrame.rawValue); encoder.word(address)
        case .unallocatedFrame(let address): encoder.word(Tag.unallocatedFrame.rawValue); encoder.word(address)
        case .memorySpacePage(let address, let reservation):
            encoder.word(Tag.memorySpacePage.rawValue); encoder.word(address); encoder.word(reservation)
        case .frameStillMapped(let address, let virtual, let mappings):
            encoder.word(Tag.frameStillMapped.rawValue); encoder.word(address); encoder.word(virtual); encoder.word(mappings)
        }
    }
}

extension MapError: Wire {
    private enum Tag: UInt64 { case alreadyMapped = 1, frameAllocationFailed, parentIsHugePage }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .alreadyMapped: self = .alreadyMapped(page: try decoder.word(), frame: try decoder.decode())
        case .frameAllocationFailed: self = .frameAllocationFailed(level: try decoder.decode(PageTableLevel.self).rawValue)
        case .parentIsHugePage: self = .parentIsHugePage(level: try decoder.decode(PageTableLevel.self).rawValue)
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .alreadyMapped(let page, let frame): encoder.word(Tag.alreadyMapped.rawValue); encoder.word(page); encoder.encode(frame)
        case .frameAllocationFailed(let level): encoder.word(Tag.frameAllocationFailed.rawValue); encoder.word(UInt64(level))
        case .parentIsHugePage(let level): encoder.word(Tag.parentIsHugePage.rawValue); encoder.word(UInt64(level))
        }
    }
}

extension UnmapError: Wire {
    private enum Tag: UInt64 { case notMapped = 1, parentIsHugePage }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .notMapped: self = .notMapped(page: try decoder.word(), level: try decoder.decode(PageTableLevel.self).rawValue)
        case .parentIsHugePage: self = .parentIsHugePage(level: try decoder.decode(PageTableLevel.self).rawValue)
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .notMapped(let page, let level): encoder.word(Tag.notMapped.rawValue); encoder.word(page); encoder.word(UInt64(level))
        case .parentIsHugePage(let level): encoder.word(Tag.parentIsHugePage.rawValue); encoder.word(UInt64(level))
        }
    }
}

/// A page-table level on the wire: 1 (PT) to 4 (PML4), nothing else.
private struct PageTableLevel: Wire {
    let rawValue: Int
    init(from decoder: inout WireDecoder) throws(WireError) { rawValue = Int(try decoder.word(in: 1...4)) }
    func encode(to encoder: inout WireEncoder) { encoder.word(UInt64(rawValue)) }
}

extension MemorySpaceError: Wire {
    private enum Tag: UInt64 {
        case invalidSize = 1, outOfAddressSpace, outOfFrames, notReserved, overlaps, map
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .invalidSize: self = .invalidSize(pages: try decoder.word())
        case .outOfAddressSpace: self = .outOfAddressSpace(pages: try decoder.word())
        case .outOfFrames: self = .outOfFrames
        case .notReserved: self = .notReserved(address: try decoder.word())
        case .overlaps: self = .overlaps(address: try decoder.word())
        case .map: self = .map(try decoder.decode())
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .invalidSize(let pages): encoder.word(Tag.invalidSize.rawValue); encoder.word(pages)
        case .outOfAddressSpace(let pages): encoder.word(Tag.outOfAddressSpace.rawValue); encoder.word(pages)
        case .outOfFrames: encoder.word(Tag.outOfFrames.rawValue)
        case .notReserved(let address): encoder.word(Tag.notReserved.rawValue); encoder.word(address)
        case .overlaps(let address): encoder.word(Tag.overlaps.rawValue); encoder.word(address)
        case .map(let error): encoder.word(Tag.map.rawValue); encoder.encode(error)
        }
    }
}

extension FrameError: Wire {
    private enum Tag: UInt64 { case doubleFree = 1, reservedFrame, outOfRange }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .doubleFree: self = .doubleFree(frame: try decoder.word())
        case .reservedFrame: self = .reservedFrame(frame: try decoder.word())
        case .outOfRange: self = .outOfRange(frame: try decoder.word(), frameCount: try decoder.word())
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .doubleFree(let frame): encoder.word(Tag.doubleFree.rawValue); encoder.word(frame)
        case .reservedFrame(let frame): encoder.word(Tag.reservedFrame.rawValue); encoder.word(frame)
        case .outOfRange(let frame, let count): encoder.word(Tag.outOfRange.rawValue); encoder.word(frame); encoder.word(count)
        }
    }
}

extension WireError: Wire {
    private enum Tag: UInt64 { case missingWord = 1, invalidValue, extraWords, tooLong }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let tagWord = try decoder.word()
        guard let tag = Tag(rawValue: tagWord) else { throw .invalidValue(index: decoder.index - 1, value: tagWord) }
        switch tag {
        case .missingWord: self = .missingWord(index: try decoder.decode())
        case .invalidValue: self = .invalidValue(index: try decoder.decode(), value: try decoder.word())
        case .extraWords: self = .extraWords(count: try decoder.decode())
        case .tooLong: self = .tooLong
        }
    }

    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .missingWord(let index): encoder.word(Tag.missingWord.rawValue); encoder.encode(index)
        case .invalidValue(let index, let value): encoder.word(Tag.invalidValue.rawValue); encoder.encode(index); encoder.word(value)
        case .extraWords(let count): encoder.word(Tag.extraWords.rawValue); encoder.encode(count)
        case .tooLong: encoder.word(Tag.tooLong.rawValue)
        }
    }
}
