#if canImport(MemoryManager)
import MemoryManager
#endif

// The memory manager's own types, as calls carry them: the host gets the
// same `PageTableFlags`, `FaultReason` and `Backing` the kernel uses. Their
// coding is generated (WireCodeGenerator) from their declarations in
// Sources/Guest/Memory; a frame and a set of flags are one word each.

extension Frame: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init(number: try decoder.word(in: 0...(UInt64.max >> frameShift)))
    }
    public func encode(to encoder: inout WireEncoder) { encoder.word(number) }
}

extension PageTableFlags: WirePrimitive {
    public init(from decoder: inout WireDecoder) throws(WireError) { self.init(rawValue: try decoder.word()) }
    public func encode(to encoder: inout WireEncoder) { encoder.word(rawValue) }
}

extension FaultReason: Wire {}
extension Backing: Wire {}
extension TranslationChange: Wire {}
