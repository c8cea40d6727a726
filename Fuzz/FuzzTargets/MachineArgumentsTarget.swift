import GuestProtocol
import KVMHost
import MachineArguments

/// One fuzz input for kvmhost's option values: text split at NUL bytes
/// into --memory, --timeout, then any number of --reserve values. Each is
/// parsed as kvmhost parses it; what parses is checked for what the host
/// relies on, and a parsed memory size with its ranges is built into the
/// memory map handed to the guest. Typed errors are expected; a trap is a bug.
/// Returns how many of the values parsed.
@discardableResult
public func fuzzMachineArguments(_ input: UnsafeRawBufferPointer) -> Int {
    let fields = input.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    var parsed = 0
    var memorySize: Int?
    if let memory = fields.first, let bytes = try? MachineArguments.memoryBytes(memory) {
        precondition(MachineArguments.memoryRange.contains(UInt64(bytes)) && bytes % 4096 == 0, "memory \(bytes)")
        memorySize = bytes
        parsed += 1
    }
    if fields.count > 1 {
        do {
            if let timeout = try MachineArguments.timeout(fields[1]) {
                precondition(timeout > .zero, "a timeout of \(timeout)")
                _ = Deadline(after: timeout).remainingNanoseconds
            }
            parsed += 1
        } catch {
            _ = error.description
        }
    }
    let ranges = fields.dropFirst(2).prefix(MachineArguments.maximumReserveRanges).compactMap { text -> Range<UInt64>? in
        guard let range = try? MachineArguments.reservedRange(text) else { return nil }
        precondition(range.lowerBound < range.upperBound, "a backwards range")
        return range
    }
    parsed += ranges.count
    if let memorySize {
        do {
            let map = try PhysicalMemoryMap(memorySize: UInt64(memorySize), holes: ranges)
            precondition(map.entries.count <= PhysicalMemoryMap.maximumEntries, "\(map.entries.count) entries")
            let (below, above) = GuestRAM.ranges(bytes: UInt64(memorySize))
            precondition(map.entries.allSatisfy { entry in
                [below, above ?? below].contains { $0.lowerBound <= entry.base && entry.end <= $0.upperBound }
            }, "an entry outside guest RAM")
        } catch {
            _ = error.description
        }
    }
    return parsed
}
