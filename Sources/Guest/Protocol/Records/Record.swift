// A record is the unit of the report channel: a 16-byte header, then 64-bit
// words, then text bytes. The guest writes records into its own memory and
// hands their guest-physical address to the host; the host answers commands
// by writing a record into a buffer the guest names.
//
// Every record's words are one `Wire` value, the one its kind names below,
// read whole: a word missing or left over is a malformed record.
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

public enum RecordKind: UInt16, CaseIterable, Sendable {
    /// Guest to host: the kernel is up. Words: a `ReadyRecord`.
    case ready = 1
    /// Guest to host: a CPU exception the kernel cannot handle. Words: an `ExceptionRecord`.
    case exception = 2
    /// Guest to host: a guest assertion failed. Words: an `AssertionRecord`; text: condition, NUL, file.
    case assertion = 3
    /// Guest to host: waiting for a command. Words: an `AwaitCommandRecord`.
    case awaitCommand = 4
    /// Guest to host: the answer to a call. Words: a `ReplyHeader`, then
    /// the reply (or error) as `Wire` words.
    case reply = 5
    /// Guest to host: the kernel cannot go on. Words: a value (`UInt64`); text: the reason.
    case panic = 6
    /// Guest to host: console text. Where the channel exists the kernel's
    /// console goes this way, one exit per write: this KVM delivers a
    /// `rep outsb` to COM1 as one exit per byte (about 40 us each).
    case console = 7
    /// Guest to host: a page-trap decision for a process. Words: a `PageTrapRecord`.
    case pageTrap = 8
    /// Guest to host: a value a user program reported (its SYS_REPORT). Words: the value (`UInt64`).
    case programReport = 9
    /// Guest to host: an expectation of an in-kernel test case failed, and
    /// the case goes on. Laid out as `assertion`.
    case expectationFailed = 10
    /// Guest to host: the monitor's `check` asks the host to run its
    /// page-table check now and show the result on the console. No words.
    case pageTableCheckRequest = 11
    /// Guest to host: the TLB checker found a translation the kernel left
    /// stale where it could be used. Words: a `StaleTranslationRecord`.
    case staleTranslation = 12
    /// Guest to host: the lock validator found an order or a state that
    /// can deadlock. Words: a `LockViolationRecord`.
    case lockViolation = 13
    /// Host to guest: a call. Words: its `CallCode`, then its arguments as `Wire` words.
    case command = 16
}
