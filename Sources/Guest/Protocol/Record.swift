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

public enum RecordKind: UInt16, Sendable {
    /// Guest to host: the kernel is up. Words: `ReadyWord`, then the memory map.
    case ready = 1
    /// Guest to host: a CPU exception the kernel cannot handle. Words: `ExceptionWord`.
    case exception = 2
    /// Guest to host: a guest assertion failed. Words: `AssertionWord`; text: condition, NUL, file.
    case assertion = 3
    /// Guest to host: waiting for a command. Words: `AwaitCommandWord`.
    case awaitCommand = 4
    /// Guest to host: the answer to a call. Words: the call's sequence
    /// number, a `CallStatus`, then the reply (or error) as `Wire` words.
    case reply = 5
    /// Guest to host: the kernel cannot go on. Text: the reason.
    case panic = 6
    /// Guest to host: console text. Where the channel exists the kernel's
    /// console goes this way, one exit per write: this KVM delivers a
    /// `rep outsb` to COM1 as one exit per byte (about 40 us each).
    case console = 7
    /// Guest to host: a page-trap decision for a process. Words: `PageTrapWord`.
    case pageTrap = 8
    /// Guest to host: a value a user program reported (its SYS_REPORT). Words: the value.
    case programReport = 9
    /// Guest to host: an expectation of an in-kernel test case failed, and
    /// the case goes on. Laid out as `assertion`.
    case expectationFailed = 10
    /// Host to guest: a call. Words: its `CallCode`, then its arguments as `Wire` words.
    case command = 16
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

/// The reply record's first words, before the reply's own.
public enum ReplyWord {
    public static let callSequence = 0
    /// A `CallStatus`.
    public static let status = 1
    public static let valuesStart = 2
}
