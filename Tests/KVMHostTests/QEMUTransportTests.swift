@testable import KVMHost
import GuestProtocol
import XCTest

/// What the tcg backend reads: the guest's link frames (guest-controlled
/// bytes) and QEMU's register dump.
final class QEMUTransportTests: XCTestCase {
    func testFramesAreCutWhereverTheBytesBreak() throws {
        let stream: [UInt8] = [LinkFrame.record.rawValue] + le(0x0020_1000) + [LinkFrame.wantsInput.rawValue] + le(7)
            + [LinkFrame.exit.rawValue] + le(0xDEAD_BEEF)
        let expected: [(LinkFrame, UInt32)] = [(.record, 0x0020_1000), (.wantsInput, 7), (.exit, 0xDEAD_BEEF)]
        // Every split of the stream into two reads gives the same frames, in order.
        for cut in 0...stream.count {
            var reader = LinkFrameReader()
            var frames: [(LinkFrame, UInt32)] = []
            for piece in [Array(stream[..<cut]), Array(stream[cut...])] {
                reader.append(piece)
                while let next = try reader.next() { frames.append(next) }
            }
            XCTAssertEqual(frames.map(\.0), expected.map(\.0), "cut at \(cut)")
            XCTAssertEqual(frames.map(\.1), expected.map(\.1), "cut at \(cut)")
            XCTAssertEqual(reader.partialBytes, 0)
        }
        // Byte by byte.
        var reader = LinkFrameReader()
        var count = 0
        for byte in stream {
            reader.append([byte])
            while try reader.next() != nil { count += 1 }
        }
        XCTAssertEqual(count, 3)
    }

    func testAByteThatStartsNoFrameIsRefusedAndAPartialFrameWaits() {
        var reader = LinkFrameReader()
        reader.append([LinkFrame.record.rawValue, 1, 2])
        XCTAssertNil(try reader.next())
        XCTAssertEqual(reader.partialBytes, 3)
        for tag in UInt8.min...UInt8.max where LinkFrame(rawValue: tag) == nil {
            var bad = LinkFrameReader()
            bad.append([tag])
            XCTAssertThrowsError(try bad.next()) { XCTAssertEqual($0 as? ChannelError, .badLinkFrame(tag: tag)) }
        }
    }

    func testQEMUsRegisterDumpInLongModeAndIn32BitMode() throws {
        let long = """
            RAX=0000000000000001 RBX=0000000000000002 RCX=0000000000000003 RDX=0000000000000004
            RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000000007 RSP=0000000000000008
            R8 =0000000000000009 R9 =000000000000000a R10=000000000000000b R11=000000000000000c
            RIP=00007fff80101234 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0
            ES =0010 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
            CS =0008 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]
            CR0=80010033 CR2=0000000040000000 CR3=0000000000102000 CR4=00000020
            EFER=0000000000000d00
            """
        let state = try XCTUnwrap(CPUState(qemuRegisters: long))
        XCTAssertEqual([state.rax, state.rbx, state.rcx, state.rdx, state.rsi, state.rdi, state.rbp, state.rsp], Array(1...8))
        XCTAssertEqual(state.rip, 0x7FFF_8010_1234)
        XCTAssertEqual(state.rflags, 0x46)
        XCTAssertEqual(state.cs, 8, "the selector after 'CS =', not ES's")
        XCTAssertEqual([state.cr0, state.cr2, state.cr3, state.cr4, state.efer], [0x8001_0033, 0x4000_0000, 0x102000, 0x20, 0xD00])

        let protected = """
            EAX=00000000 EBX=000021e0 ECX=40000000 EDX=00000518
            ESI=000011c0 EDI=00006ef4 EBP=00000000 ESP=00006edc
            EIP=00100002 EFL=00000006 [-----P-] CPL=0 II=0 A20=1 SMM=0 HLT=0
            CS =0008 00000000 ffffffff 00cf9a00 DPL=0 CS32 [-R-]
            CR0=00000011 CR2=00000000 CR3=00000000 CR4=00000000
            EFER=0000000000000000
            """
        let state32 = try XCTUnwrap(CPUState(qemuRegisters: protected))
        XCTAssertEqual(state32.rip, 0x100002)
        XCTAssertEqual(state32.rbx, 0x21E0)
        XCTAssertEqual(state32.rflags, 6)
        XCTAssertEqual(state32.cr0, 0x11)
        XCTAssertNil(CPUState(qemuRegisters: "RAX=1 RIP=2"), "a dump without every register is none")
        XCTAssertNil(CPUState(qemuRegisters: ""))
    }

    private func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
}
