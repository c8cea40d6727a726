// A record is the unit of the report channel: a 16-byte header, then 64-bit
// words, then text bytes. The guest writes records into its own memory and
// hands their guest-physical address to the host; the host answers commands
// by writing a record into a buffer the guest names.
//
// Header, little endian:
//   0  magic     UInt32  recordMagic
//   4  kind      UInt16  RecordKind
//   6  words     UInt16  number of 64-bit words after the header
//   8  text      UInt32  number of text bytes after the words
//  12  sequence  UInt32  counts records in each direction

public let recordMagic: UInt32 = 0x3144_4352  // "RCD1"
public let recordHeaderSize = 16
/// No record may be longer than this, header included: one page.
public let recordMaximumSize = 4096
/// Commands carry at most this many words.
public let commandMaximumWords = 8

public enum RecordKind {
    /// Guest to host: the kernel is up. Words: `ReadyWord`, then the memory map.
    public static let ready: UInt16 = 1
    /// Guest to host: a CPU exception the kernel cannot handle. Words: `ExceptionWord`.
    public static let exception: UInt16 = 2
    /// Guest to host: a guest assertion failed. Words: `AssertionWord`; text: condition, NUL, file.
    public static let assertion: UInt16 = 3
    /// Guest to host: waiting for a command. Words: `AwaitCommandWord`.
    public static let awaitCommand: UInt16 = 4
    /// Guest to host: the answer to a command. Words: `ReplyWord`.
    public static let reply: UInt16 = 5
    /// Guest to host: the kernel cannot go on. Text: the reason.
    public static let panic: UInt16 = 6
    /// Guest to host: a page-trap decision for a process. Words: `PageTrapWord`.
    public static let pageTrap: UInt16 = 8
    /// Guest to host: a value a user program reported (its SYS_REPORT). Words: the value.
    public static let programReport: UInt16 = 9
    /// Guest to host: console text. Where the channel exists the kernel's
    /// console goes this way, one exit per write: this KVM delivers a
    /// `rep outsb` to COM1 as one exit per byte (about 40 us each).
    public static let console: UInt16 = 7
    /// Host to guest: a command. Words: `CommandWord`.
    public static let command: UInt16 = 16
}

public enum ReadyWord {
    public static let kernelPhysicalStart = 0
    public static let kernelPhysicalEnd = 1
    public static let kernelVirtualBase = 2
    public static let directMapBase = 3
    public static let heapStart = 4
    public static let heapEnd = 5
    public static let startInfoPhysical = 6
    /// CR3: the root of the kernel's own address space.
    public static let pageTableRoot = 7
    /// Memory ranges the frame allocator could not record (more than its
    /// lists hold): memory the kernel does not use. The host fails the boot.
    public static let droppedMemoryRanges = 8
    public static let memoryMapCount = 9
    /// Memory-map entries follow, `memoryMapEntryWords` each: base, length, E820 type.
    public static let memoryMapStart = 10
    public static let memoryMapEntryWords = 3
    public static let maximumMemoryMapEntries = 128
}

public enum ExceptionWord {
    public static let vector = 0
    public static let errorCode = 1
    public static let rip = 2
    public static let cs = 3
    public static let rflags = 4
    public static let rsp = 5
    public static let ss = 6
    public static let cr0 = 7
    public static let cr2 = 8
    public static let cr3 = 9
    public static let cr4 = 10
    public static let efer = 11
    /// The faulting context's general registers, from the trap frame, in
    /// this order: RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8 ... R15.
    public static let registersStart = 12
    public static let registerCount = 15
    public static let count = 27
    /// For a page fault: how many entries the guest's own walk of CR2 read,
    /// then the entries, PML4 first.
    public static let walkCount = 27
    public static let walkStart = 28
}

public enum AssertionWord {
    public static let line = 0
    public static let valueCount = 1
    /// Up to `maximumValues` values follow.
    public static let valuesStart = 2
    public static let maximumValues = 4
}

public enum AwaitCommandWord {
    public static let bufferPhysical = 0
    public static let bufferCapacity = 1
    public static let count = 2
}

public enum CommandWord {
    public static let code = 0
    /// Arguments follow, up to `commandMaximumWords - 1`.
    public static let argumentsStart = 1
}

public enum ReplyWord {
    public static let commandSequence = 0
    public static let status = 1
    /// Result values follow.
    public static let valuesStart = 2
}

/// What the host can ask of the guest. Later features add codes here.
public enum CommandCode {
    /// Reply with the arguments unchanged: a round trip through the channel.
    public static let echo: UInt64 = 1
    /// Raise CPU exception `argument 0` inside the kernel (0 divide, 3 breakpoint,
    /// 6 invalid opcode, 13 general protection, 14 page fault at `argument 1`).
    public static let raiseException: UInt64 = 2
    /// Loop forever in the kernel, for the watchdog.
    public static let spin: UInt64 = 3
    /// `guestAssert(argument 0 == argument 1)`.
    public static let assertEqual: UInt64 = 4
    /// Write `argument 0` to the exit port.
    public static let shutdown: UInt64 = 5
    /// Run ordinary Swift on the kernel heap with `argument 0` elements: an
    /// array grown by inserting at the front (overlapping memmove), a class
    /// instance summing it. Replies: checksum, heap bytes in use before,
    /// at the peak, and after everything was freed.
    public static let exerciseHeap: UInt64 = 6

    // Physical memory: the frame allocator.
    /// Replies `FrameStatisticsWord`, then the boot reservations, `ReservationWord` each.
    public static let frameStatistics: UInt64 = 7
    /// Allocate up to `argument 0` frames (at most `maximumFramesPerReply`);
    /// replies with their physical addresses, fewer when memory runs out.
    public static let allocateFrames: UInt64 = 8
    /// Free the frame at physical address `argument 0`. A frame the allocator
    /// refuses (double free, reserved, out of range) is a kernel panic.
    public static let freeFrame: UInt64 = 9
    /// Allocate `argument 0` contiguous frames aligned to `argument 1` frames;
    /// replies with the first address, or `noFrame`.
    public static let allocateContiguous: UInt64 = 10
    /// Replies `FrameQueryWord` for the frame at physical address `argument 0`.
    public static let queryFrame: UInt64 = 11
    /// Allocate frames until none is left, writing `exhaustionMarker ^ address`
    /// at offset 0 of each and chaining them through offset 8. Replies: count,
    /// lowest and highest address.
    public static let exhaustFrames: UInt64 = 12
    /// Free every frame `exhaustFrames` chained. Replies: count.
    public static let freeExhausted: UInt64 = 13
    /// Take one frame the kernel cannot do without: out of memory is a kernel
    /// panic that names the request.
    public static let requireFrame: UInt64 = 14

    // The kernel's Pagemap (the live address space: mappings take effect).
    /// Map the page at `argument 0` to the frame at `argument 1` (`noFrame`:
    /// take one from the allocator) with page-table flags `argument 2`.
    /// Replies the frame's address, or `pagemapError`.
    public static let mapPage: UInt64 = 15
    /// Unmap the page at `argument 0`; when `argument 1` is 1, free its frame.
    /// Replies the frame's address (`noFrame` for a lazy page), or `pagemapError`.
    public static let unmapPage: UInt64 = 16
    /// Replies `TranslateWord` for the address `argument 0`.
    public static let translate: UInt64 = 17
    /// Replies the root table's address, tables created, tables freed.
    public static let pagemapCounts: UInt64 = 18
    /// Runs every kernel-mode access combination (`AccessCheck`) and replies
    /// one byte per combination as text: bit 7 set when the access faulted,
    /// the low 5 bits the page-fault error code.
    public static let accessChecks: UInt64 = 19

    // A memory space in the kernel's address space, for tests: one 512 GiB
    // region at `testSpaceBase`.
    /// Reserve `argument 0` pages, eagerly when `argument 1` is 1, with
    /// page-table flags `argument 2`. Replies the start, or `memorySpaceError`.
    public static let spaceReserve: UInt64 = 20
    /// Free the reservation at `argument 0`. Replies the frames freed.
    public static let spaceFree: UInt64 = 21
    /// Replies `SpaceQueryWord` for the address `argument 0`.
    public static let spaceQuery: UInt64 = 22
    /// Timing loop: phase `argument 0` (0 map, 1 translate, 2 unmap) over
    /// `argument 1` pages at `benchmarkBase`. Replies tables created and freed.
    public static let pagemapBenchmark: UInt64 = 23
    /// Run the kernel monitor on the serial console until it is left, then reply.
    public static let monitor: UInt64 = 24

    // Processes.
    /// Replies the names of the built-in programs as text, one per line.
    public static let listPrograms: UInt64 = 25
    /// Run built-in program number `argument 0` (in `listPrograms` order) in a
    /// process of its own; `argument 1` is 1 to report every page-trap
    /// decision, 0 to only count them. Replies `ProgramRunWord`.
    public static let runProgram: UInt64 = 26
    /// Point the frame allocator's next search at frame 0 (`argument 0` = 0:
    /// frames used before, which need zeroing, come first) or past every
    /// frame handed out since boot (1: known-zero frames first). For benchmarks.
    public static let restartFrameSearch: UInt64 = 27
    /// Runs every user-mode access combination (`UserAccessCheck`); replies
    /// one byte each as text, like `accessChecks`.
    public static let userAccessChecks: UInt64 = 28
    /// Set aside `argument 0` bytes of guest memory for a program image the
    /// host will write; replies its physical address, or `noFrame`.
    public static let programBuffer: UInt64 = 29
    /// Run the program image of `argument 1` bytes the host wrote at physical
    /// `argument 0` (a `programBuffer`); `argument 2` as for `runProgram`.
    /// The buffer is freed afterwards. Replies `ProgramRunWord`.
    public static let runImage: UInt64 = 30
    /// Like `runProgram`, with every user page fault skipped instead of
    /// decided (the faulting instruction must be 2 bytes long): the empty
    /// page-fault round trip, for the benchmark.
    public static let runSkippingFaults: UInt64 = 31
}

public enum PageTrapWord {
    public static let address = 0
    public static let errorCode = 1
    public static let rip = 2
    /// 0 reallocate (demand paging), 1 fault the process.
    public static let decision = 3
    /// `FaultReason` raw value when the process was faulted.
    public static let reason = 4
    public static let count = 5
}

public enum ProgramRunWord {
    /// 0: exited; 1: faulted (killed by the kernel).
    public static let outcome = 0
    /// The exit status, or the `FaultReason` raw value.
    public static let status = 1
    /// For a fault: the address (CR2 for a page fault) and RIP.
    public static let faultAddress = 2
    public static let faultRip = 3
    /// For an exception: its vector.
    public static let vector = 4
    /// Demand-paging faults resolved while the program ran.
    public static let reallocations = 5
    /// Free frames before the process was built, and after it was torn down.
    public static let freeFramesBefore = 6
    public static let freeFramesAfter = 7
    /// int3 traps taken and resumed (the empty exception round trip).
    public static let breakpoints = 8
    /// Time-stamp-counter cycles from entering ring 3 to leaving it: the
    /// program's run, without building or tearing down its process.
    public static let userCycles = 9
    public static let count = 10
}

public let testSpaceBase: UInt64 = 0x0000_0100_0000_0000
public let benchmarkBase: UInt64 = 0x0000_0200_0000_0000

public enum MemorySpaceErrorCode {
    public static let invalidSize: UInt64 = 1
    public static let outOfAddressSpace: UInt64 = 2
    public static let outOfFrames: UInt64 = 3
    public static let notReserved: UInt64 = 4
    public static let pagemap: UInt64 = 5
}

public enum SpaceQueryWord {
    public static let found = 0
    public static let start = 1
    public static let pageCount = 2
    /// 1 for eager backing.
    public static let eager = 3
    public static let highWaterMark = 4
    public static let fallbackCount = 5
}

/// Why a Pagemap request failed: the reply's status is
/// `ReplyStatus.pagemapError`, its values the code and two details.
public enum PagemapErrorCode {
    public static let nonCanonical: UInt64 = 1
    public static let misaligned: UInt64 = 2
    public static let alreadyMapped: UInt64 = 3
    public static let frameAllocationFailed: UInt64 = 4
    public static let parentIsHugePage: UInt64 = 5
    public static let notMapped: UInt64 = 6
}

public enum TranslateWord {
    /// 1 when mapped; then physical, flags, page size follow.
    public static let mapped = 0
    public static let physical = 1
    public static let flags = 2
    public static let pageSize = 3
    /// When not mapped: the level where the walk stopped, and 1 for a lazy page.
    public static let level = 1
    public static let lazy = 2
}

public let maximumFramesPerReply = 400
/// What `allocateContiguous` replies when no run is free.
public let noFrame: UInt64 = ~0
/// Marks each frame `exhaustFrames` handed out, xor its own address.
public let exhaustionMarker: UInt64 = 0x4652_414D_4521_0000

public enum FrameStatisticsWord {
    public static let total = 0
    public static let free = 1
    public static let used = 2
    public static let reserved = 3
    public static let usable = 4
    public static let bitmapPhysical = 5
    public static let bitmapBytes = 6
    /// Frames the kernel's own page tables hold (counted in `used`).
    public static let kernelPageTables = 7
    public static let reservationCount = 8
    /// Reservations follow, `ReservationWord.count` words each.
    public static let reservationsStart = 9
}

public enum ReservationWord {
    public static let kind = 0
    public static let start = 1
    public static let end = 2
    /// How many usable, free frames this reservation took.
    public static let framesTaken = 3
    public static let count = 4
}

/// What the kernel takes from usable RAM at boot, item by item.
public enum ReservationKind {
    public static let pageZero: UInt64 = 1
    public static let bootstrapTables: UInt64 = 2
    public static let kernelImage: UInt64 = 3
    public static let startInfo: UInt64 = 4
    public static let memoryMap: UInt64 = 5
    public static let frameBitmap: UInt64 = 6
}

public enum FrameQueryWord {
    public static let isFree = 0
    public static let isReserved = 1
    public static let mustZero = 2
}

public enum ReplyStatus {
    public static let ok: UInt64 = 0
    public static let unknownCommand: UInt64 = 1
    public static let badArguments: UInt64 = 2
    public static let pagemapError: UInt64 = 3
    public static let memorySpaceError: UInt64 = 4
}

/// E820 memory types, as PVH's hvm_memmap_table_entry carries them.
public enum MemoryType {
    public static let ram: UInt32 = 1
    public static let reserved: UInt32 = 2
    public static let acpiReclaimable: UInt32 = 3
    public static let acpiNVS: UInt32 = 4
    public static let unusable: UInt32 = 5
}
