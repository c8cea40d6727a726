import GuestProtocol

/// What the host can ask the guest kernel to do over the report channel.
public enum GuestCommand: Equatable, Sendable {
    /// Reply with these values: a round trip through the channel.
    case echo([UInt64])
    /// Raise CPU exception `vector` in the kernel; for #PF (14), by reading `address`.
    case raiseException(vector: UInt64, address: UInt64 = 0)
    /// Loop forever in the kernel.
    case spin
    /// GUEST_ASSERT(a == b) in the kernel.
    case assertEqual(UInt64, UInt64)
    /// Exit with `status`.
    case shutdown(status: UInt32)
    /// Run arrays and classes on the kernel heap with `count` elements.
    case exerciseHeap(count: UInt64)

    var words: [UInt64] {
        switch self {
        case .echo(let values): return [CommandCode.echo] + values
        case .raiseException(let vector, let address): return [CommandCode.raiseException, vector, address]
        case .spin: return [CommandCode.spin]
        case .assertEqual(let a, let b): return [CommandCode.assertEqual, a, b]
        case .shutdown(let status): return [CommandCode.shutdown, UInt64(status)]
        case .exerciseHeap(let count): return [CommandCode.exerciseHeap, count]
        }
    }
}
