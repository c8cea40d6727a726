import GuestProtocol

/// Report-channel records and the tiny guests that send them, for tests of
/// what the host does with a guest that talks too much.
public enum HostileRecords {
    /// Where `flood` places its record.
    public static let recordAddress: UInt64 = 0x200000

    /// A record header: magic, kind, word count, text length, sequence 1.
    public static func header(kind: UInt16, words: UInt16, text: UInt32) -> [UInt8] {
        le32(recordMagic) + le16(kind) + le16(words) + le32(text) + le32(1)
    }

    /// A whole record of `kind` with `words` and `text`.
    public static func record(kind: RecordKind, words: [UInt64] = [], text: [UInt8] = []) -> [UInt8] {
        record(kind: kind.rawValue, words: words, text: text)
    }

    /// A record of `kind` whose words are `value`, encoded as the kernel encodes it.
    public static func record<Value: Wire>(kind: RecordKind, _ value: Value, text: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: recordMaximumSize)
        let length = bytes.withUnsafeMutableBytes { raw -> Int in
            var writer = RecordWriter(base: raw.baseAddress!, capacity: recordMaximumSize, kind: kind, sequence: 1)
            writer.encode(value)
            text.withUnsafeBytes { writer.appendText($0) }
            return writer.finish()
        }
        return Array(bytes.prefix(length))
    }

    /// A ready record with an empty memory map and every address 0.
    public static func ready(droppedMemoryRanges: UInt64 = 0) -> [UInt8] {
        record(kind: .ready, ReadyRecord(kernelPhysicalStart: 0, kernelPhysicalEnd: 0, kernelVirtualBase: 0, directMapBase: 0,
                                         heapStart: 0, heapEnd: 0, startInfoPhysical: 0, pageTableRoot: 0,
                                         droppedMemoryRanges: droppedMemoryRanges, pageTableCheckTable: 0, cpuCount: 1, bootCycles: BootCycles(total: 0, physicalMemory: 0, addressSpace: 0),
                                         memoryMap: MemoryMapEntries([])))
    }

    public static func record(kind: UInt16, words: [UInt64] = [], text: [UInt8] = []) -> [UInt8] {
        header(kind: kind, words: UInt16(words.count), text: UInt32(text.count)) + words.flatMap(le64) + text
    }

    /// A guest that sends `record` (placed at `recordAddress`) on the
    /// channel forever, waiting `delay` loop iterations between two sends
    /// (each iteration is two emulated instructions: about 1.3 us here).
    public static func flood(_ record: [UInt8], delay: UInt32 = 0) -> (code: Code32, record: ELFBuilder.Segment, kernel: [UInt8]) {
        var code = Code32()
        let loop = code.bytes.count
        code.sendRecord(at: UInt32(recordAddress))
        if delay > 0 { code.delay(iterations: delay) }
        code.jumpBack(to: loop)
        let segment = ELFBuilder.Segment(physicalAddress: recordAddress, bytes: record)
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments.append(segment)
        return (code, segment, builder.build())
    }
}
