// The report channel's doorbell over a byte stream (COM2 under QEMU), where
// no host answers the report port. Compiled into both sides.
//
// A frame is a tag byte and, for some tags, a 32-bit little-endian value.
// The guest sends only frames; the host sends only `linkAcknowledge`, and
// only after a `record` frame, so the host never writes to a guest that is
// not reading (SeaBIOS's FIFO drops input that arrives before the guest runs).

public enum LinkFrame: UInt8, CaseIterable, Sendable {
    /// The guest-physical address of a record follows, as the report port's
    /// `out` carries it; the guest then waits for `linkAcknowledge` before it
    /// touches the record page again, as a vCPU stays parked on KVM.
    case record = 0x52  // "R"
    /// The guest's exit status follows, whole: isa-debug-exit keeps 7 bits.
    case exit = 0x58  // "X"
    /// The guest waits for console input on COM1 (a `hlt` on KVM). The
    /// value is how many bytes it has read from COM1 so far (mod 2^32): fewer
    /// than the host sent means the rest are still on their way through
    /// QEMU's UART, and the guest is not yet waiting for more.
    case wantsInput = 0x49  // "I"

    /// Bytes of value after the tag.
    public var valueSize: Int {
        switch self {
        case .record, .exit, .wantsInput: return 4
        }
    }
}

/// The host's answer to a `record` frame: the record was read, and a command
/// (if the record asked for one) is in place.
public let linkAcknowledge: UInt8 = 0x06
