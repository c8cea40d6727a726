#if canImport(GuestMemory)
import GuestMemory
#endif

// Calls about the kernel itself: the channel, failures on purpose, the heap.

/// Replies with `values` unchanged: a round trip through the channel.
public struct Echo: GuestCall {
    public typealias Reply = WordList
    public static let code = CallCode.echo
    public var values: WordList
    public init(from decoder: inout WireDecoder) throws(WireError) { values = try decoder.decode() }
    public func encode(to encoder: inout WireEncoder) { encoder.encode(values) }
}

#if !GUEST_KERNEL
extension Echo: Equatable, Sendable {
    public init(_ values: [UInt64]) { self.values = WordList(values) }
}
#endif

/// Raises a CPU exception inside the kernel: the run ends with its report.
public struct RaiseException: GuestCall, Equatable, Sendable {
    public enum Exception: Equatable, Sendable {
        case divideError, breakpoint, invalidOpcode, generalProtection
        /// A page fault, by reading `address`.
        case pageFault(address: UInt64)
    }
    public typealias Reply = Done
    public static let code = CallCode.raiseException
    public var exception: Exception
    public init(_ exception: Exception) { self.exception = exception }
    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.word(in: 0...4) {
        case 0: exception = .divideError
        case 1: exception = .breakpoint
        case 2: exception = .invalidOpcode
        case 3: exception = .generalProtection
        default: exception = .pageFault(address: try decoder.word())
        }
    }
    public func encode(to encoder: inout WireEncoder) {
        switch exception {
        case .divideError: encoder.word(0)
        case .breakpoint: encoder.word(1)
        case .invalidOpcode: encoder.word(2)
        case .generalProtection: encoder.word(3)
        case .pageFault(let address): encoder.word(4); encoder.word(address)
        }
    }
}

/// Loops forever in the kernel, for the watchdog.
public struct Spin: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public static let code = CallCode.spin
    public init() {}
    public init(from decoder: inout WireDecoder) throws(WireError) {}
    public func encode(to encoder: inout WireEncoder) {}
}

/// `guestAssert(first == second)` in the kernel.
public struct AssertEqual: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public static let code = CallCode.assertEqual
    public var first: UInt64
    public var second: UInt64
    public init(_ first: UInt64, _ second: UInt64) { self.first = first; self.second = second }
    public init(from decoder: inout WireDecoder) throws(WireError) { first = try decoder.word(); second = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(first); encoder.word(second) }
}

/// Writes `status` to the exit port: the run ends, with no reply.
public struct Shutdown: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public static let code = CallCode.shutdown
    public var status: UInt32
    public init(status: UInt32) { self.status = status }
    public init(from decoder: inout WireDecoder) throws(WireError) { status = try decoder.decode() }
    public func encode(to encoder: inout WireEncoder) { encoder.encode(status) }
}

/// Runs ordinary Swift on the kernel heap with `count` elements (at most
/// `limit`): an array grown by inserting at the front, a class summing it.
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
        public init(from decoder: inout WireDecoder) throws(WireError) {
            checksum = try decoder.word()
            bytesInUseBefore = try decoder.word()
            peakBytesInUse = try decoder.word()
            bytesInUseAfter = try decoder.word()
        }
        public func encode(to encoder: inout WireEncoder) {
            encoder.word(checksum); encoder.word(bytesInUseBefore); encoder.word(peakBytesInUse); encoder.word(bytesInUseAfter)
        }
    }
    public static let code = CallCode.exerciseHeap
    public static let limit: UInt64 = 4096
    public var count: UInt64
    public init(count: UInt64) { self.count = count }
    public init(from decoder: inout WireDecoder) throws(WireError) { count = try decoder.word() }
    public func encode(to encoder: inout WireEncoder) { encoder.word(count) }
}

/// Runs the kernel monitor on the serial console until it is left.
public struct RunMonitor: GuestCall, Equatable, Sendable {
    public typealias Reply = Done
    public static let code = CallCode.runMonitor
    public init() {}
    public init(from decoder: inout WireDecoder) throws(WireError) {}
    public func encode(to encoder: inout WireEncoder) {}
}

/// What the kernel found in CPUID and which paging modes it turned on.
public struct ReadCPU: GuestCall, Equatable, Sendable {
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
        public init(from decoder: inout WireDecoder) throws(WireError) {
            features = try decoder.word(in: 0...0x3F)
            noExecute = try decoder.decode(); smep = try decoder.decode(); smap = try decoder.decode()
            gigabyteDirectMap = try decoder.decode()
            physicalAddressBits = try decoder.word(in: 32...52)
        }
        public func encode(to encoder: inout WireEncoder) {
            encoder.word(features)
            encoder.encode(noExecute); encoder.encode(smep); encoder.encode(smap); encoder.encode(gigabyteDirectMap)
            encoder.word(physicalAddressBits)
        }

        public func has(_ feature: CPUFeature) -> Bool { features & feature.maskBit != 0 }

        /// The modes the access model predicts with.
        public var mmuModes: MMUModes {
            MMUModes(noExecute: noExecute, smep: smep, smap: smap, gigabytePages: has(.pdpe1gb), physicalAddressBits: Int(physicalAddressBits))
        }
    }
    public static let code = CallCode.readCPU
    public init() {}
    public init(from decoder: inout WireDecoder) throws(WireError) {}
    public func encode(to encoder: inout WireEncoder) {}
}
