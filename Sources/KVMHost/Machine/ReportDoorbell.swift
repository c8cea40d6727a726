import GuestProtocol

/// The report port on KVM: a 32-bit read answers `channelSignature`, a
/// 32-bit write rings with a record's guest-physical address. The record
/// itself is read by the run loop, the same way for both backends.
final class ReportDoorbell: PortDevice {
    let ports: ClosedRange<UInt16> = GuestPort.report...GuestPort.report
    /// Addresses rung and not yet taken, in order (`rep outsl` rings several).
    var rung: [UInt32] = []

    func read(port: UInt16, size: Int) throws -> UInt32 {
        size == 4 ? channelSignature : 0
    }

    func write(port: UInt16, size: Int, value: UInt32) throws {
        guard size == 4 else { throw ChannelError.badAccessSize(size) }
        rung.append(value)
    }
}
