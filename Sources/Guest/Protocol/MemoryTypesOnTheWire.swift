#if canImport(GuestMemory)
import GuestMemory
#endif

// The memory manager's own types, as calls carry them: the host gets the
// same `PageTableFlags`, `FaultReason` and `Backing` the kernel uses.

extension Frame: Wire {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init(number: try decoder.word(in: 0...(UInt64.max >> frameShift)))
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(number) }
}

extension PageTableFlags: Wire {
    public init(from decoder: inout WireDecoder) throws(WireError) { self.init(rawValue: try decoder.word()) }
    public func encode(to encoder: inout WireEncoder) { encoder.word(rawValue) }
}

extension FaultReason: Wire {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        let word = try decoder.word()
        guard let reason = FaultReason(rawValue: word) else { throw .invalidValue(index: decoder.index - 1, value: word) }
        self = reason
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(rawValue) }
}

extension Backing: Wire {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.word(in: 0...2) {
        case 0: self = .lazy
        case 1: self = .eager
        default: self = .guardPage
        }
    }
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .lazy: encoder.word(0)
        case .eager: encoder.word(1)
        case .guardPage: encoder.word(2)
        }
    }
}
