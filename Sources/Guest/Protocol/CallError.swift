#if canImport(MemoryManager)
import MemoryManager
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
    /// The call needs another CPU, and only this many are online (`--smp`).
    case needsSeveralCPUs(online: UInt64)
}

extension CallError: Wire {}

// A page-table level on the wire: 1 (PT) to 4 (PML4), nothing else.
// wire: level in 1...4
extension MapError: Wire {}
// wire: level in 1...4
extension UnmapError: Wire {}
extension MemorySpaceError: Wire {}
extension FrameError: Wire {}
extension WireError: Wire {}
