import GuestProtocol
@testable import KVMHost
import XCTest

final class DeviceTests: XCTestCase {
    func testSerialTransmitsAndReceives() throws {
        let serial = Serial16550()
        var seen: [UInt8] = []
        serial.output = { seen += $0 }
        for byte in Array("hi\nthere\n".utf8) { try serial.write(port: 0x3F8, size: 1, value: UInt32(byte)) }
        serial.flush()
        XCTAssertEqual(String(decoding: seen, as: UTF8.self), "hi\nthere\n")
        XCTAssertEqual(serial.lastLines(1), ["there"])
        XCTAssertEqual(try serial.read(port: 0x3FD, size: 1) & 0x61, 0x60, "transmitter empty, no data")
        serial.enqueueInput([0x41])
        XCTAssertEqual(try serial.read(port: 0x3FD, size: 1) & 0x01, 0x01, "data ready")
        XCTAssertEqual(try serial.read(port: 0x3F8, size: 1), 0x41)
        XCTAssertEqual(try serial.read(port: 0x3FD, size: 1) & 0x01, 0)
    }

    func testSerialDivisorLatchDoesNotTransmit() throws {
        let serial = Serial16550()
        try serial.write(port: 0x3FB, size: 1, value: 0x80)
        try serial.write(port: 0x3F8, size: 1, value: 0x01)
        try serial.write(port: 0x3FB, size: 1, value: 0x03)
        XCTAssertEqual(serial.transcript, [])
    }

    func testUnclaimedPortIsAnErrorNamingThePort() throws {
        let bus = PortBus()
        bus.attach(Serial16550())
        var data: UInt32 = 0
        let access = PortAccess(direction: .output, port: 0x80, size: 1, count: 1, data: withUnsafeMutableBytes(of: &data) { $0.baseAddress! })
        XCTAssertThrowsError(try bus.handle(access)) {
            XCTAssertEqual($0 as? UnclaimedPortError, UnclaimedPortError(port: 0x80, direction: .output, size: 1))
        }
    }

    func testGuestMemoryRefusesEveryAccessOutsideIt() throws {
        let memory = try GuestMemory(size: 4 << 20)
        XCTAssertTrue(memory.contains(0, length: 4 << 20))
        XCTAssertFalse(memory.contains(1, length: 4 << 20))
        XCTAssertFalse(memory.contains(UInt64.max, length: 2), "no wrap-around")
        XCTAssertThrowsError(try memory.load(UInt32.self, at: (4 << 20) - 2)) {
            XCTAssertEqual($0 as? GuestMemoryError, GuestMemoryError(address: (4 << 20) - 2, length: 4, memorySize: 4 << 20))
        }
        try memory.store(UInt64(0x1122_3344_5566_7788), at: 8)
        XCTAssertEqual(try memory.read(at: 8, count: 2), [0x88, 0x77])
    }
}
