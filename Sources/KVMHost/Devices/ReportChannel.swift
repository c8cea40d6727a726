import GuestProtocol

/// Why a record the guest sent could not be read.
public enum ChannelError: Error, Equatable, CustomStringConvertible {
    /// The record's address was written with the wrong access size.
    case badAccessSize(Int)
    /// The record (or its header) does not lie in guest memory.
    case outsideGuestMemory(address: UInt64, length: UInt64)
    case malformed(address: UInt64, problem: RecordProblem)
    case undecodable(kind: UInt16, reason: String)
    /// The record's words are not the value its kind names.
    case malformedWords(kind: RecordKind, WireError)
    /// A command buffer the guest named does not lie in guest memory or is too small.
    case badCommandBuffer(address: UInt64, capacity: UInt64)
    /// A byte on the serial link (COM2, under QEMU) that starts no LinkFrame.
    case badLinkFrame(tag: UInt8)
    /// The kernel's ready record names another wire format than the host's:
    /// they were built from different protocol sources.
    case wireFormatMismatch(kernel: UInt64, host: UInt64)

    public var description: String {
        switch self {
        case .badAccessSize(let size): return "the report port takes a 4-byte address; the guest wrote \(size) bytes"
        case .outsideGuestMemory(let address, let length):
            return "the guest pointed the report channel at \(hex(address)) + \(length) bytes, outside guest memory"
        case .malformed(let address, let problem): return "the record at \(hex(address)) is malformed: \(problem)"
        case .undecodable(let kind, let reason): return "a record of kind \(kind) could not be decoded: \(reason)"
        case .malformedWords(let kind, let error): return "a \(kind) record's words are malformed: \(error)"
        case .badCommandBuffer(let address, let capacity):
            return "the guest's command buffer \(hex(address)) + \(capacity) bytes is outside guest memory or too small"
        case .badLinkFrame(let tag):
            return "the guest sent byte \(hex(UInt64(tag))) on its serial link, which starts no frame"
        case .wireFormatMismatch(let kernel, let host):
            return "the kernel speaks wire format \(hex(kernel)) and this host \(hex(host)): "
                + "they were built from different protocol sources (rebuild the kernel with this host)"
        }
    }
}

/// The host end of the report channel: reads the record whose guest-physical
/// address the guest writes to the port, after checking that address and the
/// record's length against guest memory, and keeps it for the run loop.
public final class ReportChannelDevice: PortDevice {
    public let ports: ClosedRange<UInt16>
    private let memory: GuestMemory
    /// Records received and not yet taken by the run loop.
    private(set) var received: [GuestReport] = []

    public init(memory: GuestMemory, port: UInt16 = GuestPort.report) {
        self.memory = memory
        ports = port...port
    }

    public func read(port: UInt16, size: Int) throws -> UInt32 {
        size == 4 ? channelSignature : 0
    }

    public func write(port: UInt16, size: Int, value: UInt32) throws {
        guard size == 4 else { throw ChannelError.badAccessSize(size) }
        received.append(try Self.readRecord(at: UInt64(value), in: memory))
    }

    func takeReceived() -> [GuestReport] {
        defer { received.removeAll() }
        return received
    }

    /// Reads and decodes the record at guest-physical `address`, checking it
    /// against guest memory first: what the port does with an address.
    public static func readRecord(at address: UInt64, in memory: GuestMemory) throws -> GuestReport {
        guard memory.contains(address, length: UInt64(recordHeaderSize)) else {
            throw ChannelError.outsideGuestMemory(address: address, length: UInt64(recordHeaderSize))
        }
        let (length, problem) = try memory.withBytes(at: address, count: recordHeaderSize) {
            RecordView.claimedLength(header: $0)
        }
        if let problem { throw ChannelError.malformed(address: address, problem: problem) }
        guard memory.contains(address, length: UInt64(length)) else {
            throw ChannelError.outsideGuestMemory(address: address, length: UInt64(length))
        }
        return try memory.withBytes(at: address, count: length) { bytes in
            let (view, problem) = RecordView.validate(bytes)
            guard let view else { throw ChannelError.malformed(address: address, problem: problem!) }
            return try GuestReport(view)
        }
    }
}
