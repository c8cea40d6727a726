#if canImport(MemoryManager)
import MemoryManager
#endif

// Calls about the kernel itself: the channel, failures on purpose, the heap.

/// Replies with `values` unchanged: a round trip through the channel.
// wire: call 1
public struct Echo: GuestCall {
    public typealias Reply = WordList
    public var values: WordList
}

#if !GUEST_KERNEL
extension Echo: Equatable, Sendable {
    public init(_ values: [UInt64]) { self.values = WordList(values) }
}
#endif

/// Raises a CPU exception inside the kernel: the run ends with its report.
// wire: call 2
public struct RaiseException: GuestCall, Equatable, Sendable {
    public enum Exception: Wire, Equatable, Sendable {
        case divideError, breakpoint, invalidOpcode, generalProtection
        /// A page fault, by reading `address`.
        case pageFault(address: UInt64)
    }
    public typealias Reply = Done
    public var exception: Exception
    /// The CPU that raises it: 0, the boot CPU, which runs calls; another
    /// takes it as work (`needsSeveralCPUs` for one not online).
    // wire: cpu in 0...UInt64(GuestCPUs.maximumCount - 1)
    public var cpu: UInt64
    public init(_ exception: Exception, cpu: UInt64 = 0) { self.exception = exception; self.cpu = cpu }
}

/// Loops forever in the kernel, for the watchdog.
// wire: call 3
public struct Spin: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public init() {}
}

/// `guestAssert(first == second)` in the kernel.
// wire: call 4
public struct AssertEqual: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public var first: UInt64
    public var second: UInt64
    public init(_ first: UInt64, _ second: UInt64) { self.first = first; self.second = second }
}

/// Writes `status` to the exit port: the run ends, with no reply.
// wire: call 5
public struct Shutdown: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public var status: UInt32
    public init(status: UInt32) { self.status = status }
}

/// Runs ordinary Swift on the kernel heap with `count` elements (at most
/// `limit`): an array grown by inserting at the front, a class summing it.
// wire: call 6
public struct ExerciseHeap: GuestCall, Equatable, Sendable {
    public struct Reply: Wire, Equatable, Sendable {
        public var checksum: UInt64
        public var bytesInUseBefore: UInt64
        public var peakBytesInUse: UInt64
        public var bytesInUseAfter: UInt64
        public init(checksum: UInt64, bytesInUseBefore: UInt64, peakBytesInUse: UInt64, bytesInUseAfter: UInt64) {
            self.checksum = checksum
            self.bytesInUseBefore = bytesInUseBefore
            self.peakBytesInUse = peakBytesInUse
            self.bytesInUseAfter = bytesInUseAfter
        }
    }
    public static let limit: UInt64 = 4096
    public var count: UInt64
    public init(count: UInt64) { self.count = count }
}

/// Runs the kernel monitor on the serial console until it is left.
// wire: call 24
public struct RunMonitor: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public init() {}
}

/// What the kernel found in CPUID and which paging modes it turned on.
// wire: call 35
public struct ReadCPU: GuestCall, Equatable, Sendable {
    // wire: features in 0...0x3F
    // wire: physicalAddressBits in 32...52
    public struct Reply: Wire, Equatable, Sendable {
        /// `CPUFeature.maskBit` of each feature CPUID reports.
        public var features: UInt64
        /// EFER.NXE, CR4.SMEP and CR4.SMAP as the kernel runs.
        public var noExecute: Bool
        public var smep: Bool
        public var smap: Bool
        /// The direct map takes 1 GiB pages (with pdpe1gb) wherever a whole GiB is RAM.
        public var gigabyteDirectMap: Bool
        /// MAXPHYADDR, CPUID 0x80000008 EAX[7:0] (36 where the leaf is missing).
        public var physicalAddressBits: UInt64

        public init(features: UInt64, noExecute: Bool, smep: Bool, smap: Bool, gigabyteDirectMap: Bool, physicalAddressBits: UInt64) {
            self.features = features; self.noExecute = noExecute; self.smep = smep; self.smap = smap
            self.gigabyteDirectMap = gigabyteDirectMap; self.physicalAddressBits = physicalAddressBits
        }

        public func has(_ feature: CPUFeature) -> Bool { features & feature.maskBit != 0 }

        /// The modes the access model predicts with.
        public var mmuModes: MMUModes {
            MMUModes(noExecute: noExecute, smep: smep, smap: smap, gigabytePages: has(.pdpe1gb), physicalAddressBits: Int(physicalAddressBits))
        }
    }
    public init() {}
}
