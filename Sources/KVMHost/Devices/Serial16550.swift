import GuestProtocol

/// Enough of a 16550 UART on COM1 for a console: the transmitter is always
/// ready, bytes written go to the transcript and to `output`; bytes queued
/// with `enqueueInput` are what the guest reads, with Data Ready in LSR.
public final class Serial16550: PortDevice {
    public let ports: ClosedRange<UInt16>
    /// Called with each chunk the guest writes, as it writes it.
    public var output: (([UInt8]) -> Void)?
    private(set) public var transcript: [UInt8] = []
    private var input: [UInt8] = []
    private var inputStart = 0
    private var interruptEnable: UInt8 = 0
    private var lineControl: UInt8 = 0x03
    private var modemControl: UInt8 = 0
    private var scratch: UInt8 = 0
    private var divisor: UInt16 = 1
    /// The transcript keeps at most this many bytes, the newest.
    public static let transcriptLimit = 1 << 20

    public init(base: UInt16 = GuestPort.serial) {
        ports = base...(base + GuestPort.serialRegisterCount - 1)
    }

    private var divisorLatch: Bool { lineControl & 0x80 != 0 }

    public func enqueueInput(_ bytes: [UInt8]) {
        input.append(contentsOf: bytes)
    }

    public func read(port: UInt16, size: Int) throws -> UInt32 {
        switch port - ports.lowerBound {
        case 0:
            if divisorLatch { return UInt32(divisor & 0xFF) }
            guard inputStart < input.count else { return 0 }
            let byte = input[inputStart]
            inputStart += 1
            if inputStart == input.count { input.removeAll(keepingCapacity: true); inputStart = 0 }
            return UInt32(byte)
        case 1: return divisorLatch ? UInt32(divisor >> 8) : UInt32(interruptEnable)
        case 2: return 0xC1                                  // FIFOs on, no interrupt pending
        case 3: return UInt32(lineControl)
        case 4: return UInt32(modemControl)
        case 5: return 0x60 | (inputStart < input.count ? 0x01 : 0)  // THR empty, idle; data ready
        case 6: return 0xB0                                  // CTS, DSR, DCD
        default: return UInt32(scratch)
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) throws {
        let byte = UInt8(truncatingIfNeeded: value)
        switch port - ports.lowerBound {
        case 0:
            if divisorLatch { divisor = divisor & 0xFF00 | UInt16(byte); return }
            transmit(byte)
        case 1:
            if divisorLatch { divisor = divisor & 0x00FF | UInt16(byte) << 8 } else { interruptEnable = byte & 0x0F }
        case 3: lineControl = byte
        case 4: modemControl = byte
        case 7: scratch = byte
        default: break                                       // FCR, LSR, MSR writes change nothing here
        }
    }

    private var pending: [UInt8] = []

    /// Console text that reached the host another way (the report channel):
    /// it joins the transcript and the output as if written to COM1.
    public func receiveConsoleText(_ bytes: [UInt8]) {
        for byte in bytes { transmit(byte) }
    }

    private func transmit(_ byte: UInt8) {
        transcript.append(byte)
        pending.append(byte)
        if transcript.count > Self.transcriptLimit * 2 {
            transcript.removeFirst(transcript.count - Self.transcriptLimit)
        }
    }

    /// Hands what the guest wrote since the last call to `output`. The run
    /// loop calls it after every exit, so a `rep outsb` string arrives whole.
    public func flush() {
        guard !pending.isEmpty else { return }
        output?(pending)
        pending.removeAll(keepingCapacity: true)
    }

    public var text: String { String(decoding: transcript, as: UTF8.self) }

    /// The UART's registers, its unread input and the transcript: what a
    /// snapshot keeps and a restore puts back (the text since is unsaid).
    struct State {
        var transcript: [UInt8]
        var input: ArraySlice<UInt8>
        var registers: (interruptEnable: UInt8, lineControl: UInt8, modemControl: UInt8, scratch: UInt8, divisor: UInt16)
    }

    var state: State {
        flush()
        return State(transcript: transcript, input: input[inputStart...],
                     registers: (interruptEnable, lineControl, modemControl, scratch, divisor))
    }

    func restore(_ state: State) {
        flush()
        transcript = state.transcript
        input = Array(state.input)
        inputStart = 0
        (interruptEnable, lineControl, modemControl, scratch, divisor) = state.registers
    }

    /// The last `count` lines of the console.
    public func lastLines(_ count: Int) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
        return Array(trimmed.suffix(count))
    }
}
