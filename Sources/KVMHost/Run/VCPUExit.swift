import CKVM

public enum PortDirection: Equatable, Sendable {
    case input, output
}

/// A port access the guest made. `data` points into kvm_run: for output it
/// holds what the guest wrote, for input the host fills it before resuming.
public struct PortAccess {
    public let direction: PortDirection
    public let port: UInt16
    /// Bytes per access: 1, 2 or 4.
    public let size: Int
    /// More than one for `rep ins`/`rep outs`.
    public let count: Int
    public let data: UnsafeMutableRawPointer

    /// The value of access `index` (output).
    public func value(_ index: Int = 0) -> UInt32 {
        let offset = index * size
        switch size {
        case 1: return UInt32(data.load(fromByteOffset: offset, as: UInt8.self))
        case 2: return UInt32(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        default: return UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
    }

    /// Sets the value the guest reads for access `index` (input).
    public func setValue(_ value: UInt32, _ index: Int = 0) {
        let offset = index * size
        switch size {
        case 1: data.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
        case 2: data.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: offset, as: UInt16.self)
        default: data.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        }
    }
}

public struct MMIOAccess: Equatable, Sendable {
    public let address: UInt64
    public let length: Int
    public let isWrite: Bool

    public init(address: UInt64, length: Int, isWrite: Bool) {
        self.address = address
        self.length = length
        self.isWrite = isWrite
    }
}

/// A debug exit: the vector (1 #DB), where, and DR6/DR7 (DR6 B0-B3 name
/// the breakpoint slot that fired, BS a single step).
public struct DebugExit: Equatable, Sendable {
    public let exception: UInt32
    public let pc: UInt64
    public let dr6: UInt64
    public let dr7: UInt64

    public var singleStep: Bool { dr6 & (1 << 14) != 0 }
    /// The slots (0-3) whose condition fired.
    public var slots: [Int] { (0..<4).filter { dr6 & (1 << UInt64($0)) != 0 } }
}

/// Why KVM_RUN returned.
public enum VCPUExit {
    case halt
    case portIO(PortAccess)
    case mmio(MMIOAccess)
    /// A triple fault.
    case shutdown
    case failEntry(hardwareReason: UInt64)
    case internalError(suberror: UInt32)
    case systemEvent(type: UInt64)
    /// A signal (the watchdog, a stop or pause request) took the vCPU out of the guest.
    case interrupted
    /// A hardware breakpoint, watchpoint or single step (guest debugging on).
    case debug(DebugExit)
    case other(reason: UInt32)

    init(_ run: UnsafeMutablePointer<kvm_run>) {
        let reason = ckvm_run_exit_reason(run)
        switch Int32(reason) {
        case KVM_EXIT_HLT:
            self = .halt
        case KVM_EXIT_IO:
            let io = ckvm_run_io(run)
            self = .portIO(PortAccess(
                direction: Int32(io.direction) == KVM_EXIT_IO_IN ? .input : .output,
                port: io.port, size: Int(io.size), count: Int(io.count),
                data: UnsafeMutableRawPointer(run) + Int(io.data_offset)))
        case KVM_EXIT_MMIO:
            let mmio = ckvm_run_mmio(run)
            self = .mmio(MMIOAccess(address: mmio.physical_address, length: Int(mmio.length), isWrite: mmio.is_write != 0))
        case KVM_EXIT_SHUTDOWN:
            self = .shutdown
        case KVM_EXIT_FAIL_ENTRY:
            self = .failEntry(hardwareReason: ckvm_run_fail_entry_reason(run))
        case KVM_EXIT_INTERNAL_ERROR:
            self = .internalError(suberror: ckvm_run_internal_suberror(run))
        case KVM_EXIT_SYSTEM_EVENT:
            self = .systemEvent(type: ckvm_run_system_event_type(run))
        case KVM_EXIT_INTR:
            self = .interrupted
        case KVM_EXIT_DEBUG:
            let debug = ckvm_run_debug(run)
            self = .debug(DebugExit(exception: debug.exception, pc: debug.pc, dr6: debug.dr6, dr7: debug.dr7))
        default:
            self = .other(reason: reason)
        }
    }
}
