import GuestProtocol
import MachineFacts
import XCTest

/// The facts machine.h defines once, where Swift must still spell a value
/// (an enum's raw value is a literal): each spelling is the header's.
final class MachineFactsTests: XCTestCase {
    func testEnumsTheAssemblyWritesAgreeWithTheHeader() {
        XCTAssertEqual(KernelExit.nestedException.rawValue, UInt32(EXIT_NESTED_EXCEPTION))
        XCTAssertEqual(KernelExit.missingCPUFeature.rawValue, UInt32(EXIT_MISSING_CPU_FEATURE))
        XCTAssertEqual(LinkFrame.exit.rawValue, UInt8(LINK_FRAME_EXIT))
    }

    func testThePortsAreTheHeaders() {
        XCTAssertEqual(GuestPort.exit, 0xF4, "isa-debug-exit's port, where QEMU has it")
        XCTAssertEqual(GuestPort.serial, 0x3F8)
        XCTAssertEqual(GuestPort.serialLink, 0x2F8)
        XCTAssertEqual(GuestPort.report, UInt16(REPORT_PORT))
        XCTAssertEqual(channelSignature, 0x484D_564B, "\"KVMH\"")
    }

    /// The lock validator's order table (machine.h) has a row and a column
    /// for every lock class the protocol names.
    func testTheLockValidatorsTableHoldsEveryLockClass() {
        XCTAssertLessThan(LockClass.allCases.map(\.rawValue).max() ?? 0, UInt64(LOCK_VALIDATOR_CLASSES))
    }
}
