// The ready record: the kernel is up, where it lives, and the memory map it
// was given, read back so that the host can check it took every entry.

// wire: pageTableCheckTable where pageTableCheckTable % 8 == 0
// wire: cpuCount in 1...UInt64(GuestCPUs.maximumCount)
public struct ReadyRecord: Wire {
    /// The kernel's `wireFormatFingerprint`, first, so that a host built
    /// from another protocol says so instead of misreading what follows.
    public var wireFormat: UInt64
    public var kernelPhysicalStart: UInt64
    public var kernelPhysicalEnd: UInt64
    public var kernelVirtualBase: UInt64
    public var directMapBase: UInt64
    public var heapStart: UInt64
    public var heapEnd: UInt64
    public var startInfoPhysical: UInt64
    /// CR3: the root of the kernel's own address space.
    public var pageTableRoot: UInt64
    /// Memory ranges the frame allocator could not record: memory the kernel
    /// does not use. The host fails the boot when there are any.
    public var droppedMemoryRanges: UInt64
    /// Where the kernel publishes what the host's page-table check reads
    /// (`PageTableCheckTable`), guest-physical, word-aligned.
    public var pageTableCheckTable: UInt64
    /// The CPUs that checked in: the boot CPU and every application
    /// processor of the ACPI tables it started (INIT-SIPI-SIPI).
    public var cpuCount: UInt64
    /// The memory map as the kernel read it from hvm_start_info.
    // Declared before bootCycles: the other way round, Swift 6.3.1's debug
    // build released an uninitialised memoryMap in the memberwise init, a
    // host crash on every ready record.
    public var memoryMap: MemoryMapEntries
    /// The kernel's own part of the boot, and its parts.
    public var bootCycles: BootCycles

    /// Entries one record carries (3 words each, within one page).
    public static let maximumMemoryMapEntries = 128

    public init(wireFormat: UInt64 = wireFormatFingerprint, kernelPhysicalStart: UInt64, kernelPhysicalEnd: UInt64, kernelVirtualBase: UInt64, directMapBase: UInt64,
                heapStart: UInt64, heapEnd: UInt64, startInfoPhysical: UInt64, pageTableRoot: UInt64,
                droppedMemoryRanges: UInt64, pageTableCheckTable: UInt64, cpuCount: UInt64, bootCycles: BootCycles, memoryMap: MemoryMapEntries) {
        self.wireFormat = wireFormat
        self.kernelPhysicalStart = kernelPhysicalStart
        self.kernelPhysicalEnd = kernelPhysicalEnd
        self.kernelVirtualBase = kernelVirtualBase
        self.directMapBase = directMapBase
        self.heapStart = heapStart
        self.heapEnd = heapEnd
        self.startInfoPhysical = startInfoPhysical
        self.pageTableRoot = pageTableRoot
        self.droppedMemoryRanges = droppedMemoryRanges
        self.pageTableCheckTable = pageTableCheckTable
        self.cpuCount = cpuCount
        self.bootCycles = bootCycles
        self.memoryMap = memoryMap
    }
}

/// The memory map's entries: a count, then the entries. On the host an
/// array, at most `ReadyRecord.maximumMemoryMapEntries` long. In the kernel
/// a view of PVH's table where it lies, so that the ready record is built
/// with no copy on the kernel heap.
public struct MemoryMapEntries: WirePrimitive {
#if GUEST_KERNEL
    let table: UnsafeRawPointer
    public let count: Int

    /// `count` hvm_memmap_table_entry structures at `table`.
    public init(table: UnsafeRawPointer, count: Int) {
        self.table = table
        self.count = count
    }

    public subscript(index: Int) -> MemoryMapEntry {
        let entry = table + index * MemoryMapEntry.pvhEntrySize
        return MemoryMapEntry(base: entry.loadUnaligned(as: UInt64.self),
                              length: entry.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                              type: entry.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    }

    /// The first `maximumMemoryMapEntries`: the host refuses a longer map
    /// before the kernel runs, so nothing is left out here.
    public func encode(to encoder: inout WireEncoder) {
        let carried = min(count, ReadyRecord.maximumMemoryMapEntries)
        encoder.word(UInt64(carried))
        for index in 0..<carried { encoder.encode(self[index]) }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        throw .invalidValue(index: decoder.index, value: 0)  // the kernel never reads a ready record
    }
#else
    public var entries: [MemoryMapEntry]

    public init(_ entries: [MemoryMapEntry]) { self.entries = entries }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let count = try decoder.count(wordsEach: 3)
        guard count <= ReadyRecord.maximumMemoryMapEntries else {
            throw .invalidValue(index: decoder.index - 1, value: UInt64(count))
        }
        entries = []
        entries.reserveCapacity(count)
        for _ in 0..<count { entries.append(try decoder.decode()) }
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.word(UInt64(entries.count))
        for entry in entries { encoder.encode(entry) }
    }
#endif
}

#if !GUEST_KERNEL
extension ReadyRecord: Equatable, Sendable {}
extension MemoryMapEntries: Equatable, Sendable, RandomAccessCollection {
    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(index: Int) -> MemoryMapEntry { entries[index] }
}
#endif
