/// A guest call stack by the RBP chain (the guest keeps frame pointers:
/// `push rbp; mov rbp, rsp` opens every function), read through the guest's
/// own page tables with the host's walker. The guest chose every byte of
/// it: the walk is bounded in depth, each frame must lie above the last,
/// and anything unreadable ends it, with the reason.
public struct Backtrace: Equatable, Sendable {
    public enum End: Equatable, Sendable, CustomStringConvertible {
        /// A frame pointer or return address of zero: the outermost frame.
        case outermostFrame
        case depthLimit
        /// A frame pointer not above the previous one, misaligned, or not canonical.
        case badFramePointer(UInt64)
        /// A frame that the page tables do not map, or that lies outside guest memory.
        case unmappedFrame(UInt64)

        public var description: String {
            switch self {
            case .outermostFrame: return "the outermost frame"
            case .depthLimit: return "the depth limit (\(Backtrace.maximumDepth) frames)"
            case .badFramePointer(let rbp): return "a frame pointer that is not above the last one (\(hex(rbp)))"
            case .unmappedFrame(let rbp): return "a frame the page tables do not map (\(hex(rbp)))"
            }
        }
    }

    /// The faulting or stopped RIP first, then each caller's return address.
    public let addresses: [UInt64]
    public let end: End
    /// True when the first address is a return address too: the stopped
    /// frames before it were left out (`startingAfter`).
    public let startsAtReturnAddress: Bool

    public static let maximumDepth = 32

    public init(addresses: [UInt64], end: End, startsAtReturnAddress: Bool = false) {
        self.addresses = addresses
        self.end = end
        self.startsAtReturnAddress = startsAtReturnAddress
    }

    /// The stack without its innermost frames while `isMachinery` holds for
    /// their addresses (at least one frame stays): a report's stack from the
    /// code that sent it, not from the channel code that was sending it.
    public func startingAfter(_ isMachinery: (UInt64) -> Bool) -> Backtrace {
        var dropped = 0
        while dropped < addresses.count - 1, isMachinery(addresses[dropped]) { dropped += 1 }
        guard dropped > 0 else { return self }
        return Backtrace(addresses: Array(addresses.dropFirst(dropped)), end: end, startsAtReturnAddress: true)
    }

    /// Walks from `rip` and `rbp` through the tables at `cr3`.
    public static func walk(memory: GuestMemory, cr3: UInt64, rip: UInt64, rbp: UInt64, depth: Int = maximumDepth) -> Backtrace {
        let walker = PageWalker(memory: memory)
        func read(_ virtual: UInt64) -> UInt64? {
            guard let walk = try? walker.walk(cr3: cr3, virtual: virtual), case .mapped(let physical, _, _) = walk.outcome else { return nil }
            return try? memory.load(UInt64.self, at: physical)
        }
        var addresses = [rip]
        var frame = rbp
        while true {
            guard frame != 0 else { return Backtrace(addresses: addresses, end: .outermostFrame) }
            guard addresses.count < depth else { return Backtrace(addresses: addresses, end: .depthLimit) }
            guard frame & 7 == 0, frame < 1 << 47 else { return Backtrace(addresses: addresses, end: .badFramePointer(frame)) }
            guard let caller = read(frame), let returnAddress = read(frame + 8) else {
                return Backtrace(addresses: addresses, end: .unmappedFrame(frame))
            }
            guard returnAddress != 0 else { return Backtrace(addresses: addresses, end: .outermostFrame) }
            addresses.append(returnAddress)
            guard caller == 0 || caller > frame else { return Backtrace(addresses: addresses, end: .badFramePointer(caller)) }
            frame = caller
        }
    }
}
