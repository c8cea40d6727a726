import Foundation
import GuestProtocol
import KVMHost
import SeededRandom
import TestSupport
import XCTest

/// A guest that attacks the host: hundreds of tiny guests, each built from a
/// seed to do one hostile thing (a record outside memory, a huge length, a
/// port nobody owns, MMIO into nothing, a flood of port writes). For each the
/// test knows what the host must answer, and checks it got exactly that, in
/// time. Guest memory has inaccessible guard pages on both sides, so a host
/// read that escaped its bounds checks would crash this process.
///
/// The seed is printed with every failure; KVMHOST_TEST_SEED replays one.
final class HostileGuestAttackTests: XCTestCase {
    /// What the host must answer: an exit status, or a failure of this kind.
    enum Expected: Equatable {
        case exited(UInt32)
        case failure(GuestFailure.Kind)
        /// What the host's channel makes of the record at this address in the
        /// guest's memory once the run is over (the guest changes no memory):
        /// for an address the test cannot predict the bytes at.
        case answerToRecord(at: UInt64)
    }

    let accepted: UInt32 = 77
    let codeAddress: UInt64 = 0x100000
    let deadline: Duration = .seconds(2)

    var seed: UInt64 {
        ProcessInfo.processInfo.environment["KVMHOST_TEST_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0007
    }

    /// Runs one hostile guest and checks the host's answer.
    private func attack(_ name: String, code: Code32, records: [ELFBuilder.Segment] = [], memory: Int,
                        expect expected: Expected, timeout: Duration? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        var builder = ELFBuilder.guest(code: code.bytes, at: codeAddress)
        builder.segments += records
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(memorySize: memory))
        let limit = timeout ?? deadline
        let started = ContinuousClock.now
        let got: Expected
        do {
            got = .exited(try guest.runToExit(timeout: limit))
        } catch let failure as GuestFailure {
            got = .failure(failure.kind)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertLessThan(elapsed, limit + .seconds(1), "\(name): the host overran the deadline (seed \(seed))", file: file, line: line)
        var exact = expected
        if case .answerToRecord(let address) = expected { exact = answer(readingAt: address, in: guest.memory) }
        XCTAssertEqual(got, exact, "\(name) (seed \(seed))", file: file, line: line)
    }

    /// What a run must end with when the guest points the channel at
    /// `address`: the channel's typed answer for the record there, then what
    /// a run does with that report (`runToExit` goes on past every report
    /// that is not a failure, and answers a command request with Shutdown).
    private func answer(readingAt address: UInt64, in memory: GuestMemory) -> Expected {
        let report: GuestReport
        do {
            report = try ReportChannelDevice.readRecord(at: address, in: memory)
        } catch let error as ChannelError {
            return .failure(.channel(error))
        } catch {
            return .failure(.unexpectedReport("\(error)"))
        }
        switch report {
        case .ready, .reply, .console, .pageTrap, .programReport, .expectationFailed, .pageTableCheckRequest:
            return .exited(accepted)
        case .awaitCommand(let waiting):
            let (buffer, capacity) = (waiting.bufferPhysical, waiting.capacity)
            let size = UInt64(memory.size)
            let command = UInt64(recordHeaderSize + 16)  // Shutdown: a header, its code and its status
            return capacity >= command && buffer <= size && size - buffer >= command
                ? .exited(accepted) : .failure(.channel(.badCommandBuffer(address: buffer, capacity: capacity)))
        case .exception(let report): return .failure(.exception(report))
        case .assertion(let report): return .failure(.assertion(report))
        case .panic(let report): return .failure(.panic(report))
        case .staleTranslation(let report): return .failure(.staleTranslation(report))
        case .lockViolation(let report): return .failure(.lockViolation(report))
        }
    }

    /// The same, for a record the test wrote: laid out in a memory of the
    /// guest's size, at the same address.
    private func answer(toRecord bytes: [UInt8], at address: UInt64, memory size: Int) throws -> Expected {
        let model = try GuestMemory(size: size)
        try model.write(bytes, at: address)
        return answer(readingAt: address, in: model)
    }

    /// A memory size of 4 to 32 MiB that often ends off a 2 MiB boundary.
    private func memorySize(_ random: inout SplitMix64) -> Int {
        (4 << 20) + Int.random(in: 0..<(7 << 8), using: &random) * 4096
    }

    /// A place for a record in guest memory, clear of the boot info, the
    /// legacy hole and the code.
    private func recordAddress(_ random: inout SplitMix64, memory: Int, length: Int) -> UInt64 {
        UInt64.random(in: 0x200000...UInt64(memory - length), using: &random)
    }

    private func header(kind: UInt16, words: UInt16, text: UInt32) -> [UInt8] {
        HostileRecords.header(kind: kind, words: words, text: text)
    }

    func testRandomReportChannelRecords() throws {
        try requireKVM()
        var random = SplitMix64(state: seed)
        for round in 0..<270 {
            let memory = memorySize(&random)
            let size = UInt64(memory)
            var code = Code32()
            var records: [ELFBuilder.Segment] = []
            let address: UInt64
            let expected: Expected
            let name: String
            switch round % 9 {
            case 0:
                name = "address outside memory"
                address = UInt64.random(in: size...0xFFFF_FFFF, using: &random)
                expected = .failure(.channel(.outsideGuestMemory(address: address, length: 16)))
            case 1:
                name = "header across the end of memory"
                address = size - UInt64.random(in: 1...15, using: &random)
                expected = .failure(.channel(.outsideGuestMemory(address: address, length: 16)))
            case 2:
                name = "record across the end of memory"
                let room = Int.random(in: 0...64, using: &random)
                let text = UInt32(room + Int.random(in: 1...(recordMaximumSize - recordHeaderSize - room), using: &random))
                address = size - UInt64(recordHeaderSize + room)
                records = [.init(physicalAddress: address, bytes: header(kind: RecordKind.console.rawValue, words: 0, text: text))]
                expected = .failure(.channel(.outsideGuestMemory(address: address, length: UInt64(recordHeaderSize) + UInt64(text))))
            case 3:
                name = "huge length"
                let words = UInt16.random(in: 0...UInt16.max, using: &random)
                let text = UInt32.random(in: UInt32(recordMaximumSize)...UInt32.max, using: &random)
                address = recordAddress(&random, memory: memory, length: recordHeaderSize)
                records = [.init(physicalAddress: address, bytes: header(kind: RecordKind.console.rawValue, words: words, text: text))]
                let length = recordHeaderSize + Int(words) * 8 + Int(text)
                expected = .failure(.channel(.malformed(address: address, problem: .tooLong(length: length))))
            case 4:
                name = "misaligned console record"
                let text = (0..<Int.random(in: 1...200, using: &random)).map { _ in UInt8.random(in: 0x61...0x7A, using: &random) }
                address = recordAddress(&random, memory: memory, length: 4096) | 1 | UInt64.random(in: 0...6, using: &random)
                records = [.init(physicalAddress: address, bytes: header(kind: RecordKind.console.rawValue, words: 0, text: UInt32(text.count)) + text)]
                expected = .exited(accepted)
            case 5:
                name = "garbage instead of a record"
                var garbage = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
                if garbage[0] == 0x52 { garbage[0] = 0 }  // never the magic by chance
                address = recordAddress(&random, memory: memory, length: 16)
                records = [.init(physicalAddress: address, bytes: garbage)]
                let magic = UInt32(garbage[0]) | UInt32(garbage[1]) << 8 | UInt32(garbage[2]) << 16 | UInt32(garbage[3]) << 24
                expected = .failure(.channel(.malformed(address: address, problem: .badMagic(magic))))
            case 6:
                name = "untouched memory"
                address = recordAddress(&random, memory: memory, length: 16)
                expected = .failure(.channel(.malformed(address: address, problem: .badMagic(0))))
            case 7:
                name = "command buffer anywhere"
                let capacity = UInt64.random(in: 0...96, using: &random)
                let buffer = [UInt64.random(in: 0x200000...(size - 4096), using: &random), size - UInt64.random(in: 0...48, using: &random),
                              UInt64.random(in: size...0xFFFF_FFFF, using: &random), UInt64.max - 15].randomElement(using: &random)!
                address = recordAddress(&random, memory: memory, length: 64)
                records = [.init(physicalAddress: address,
                                 bytes: header(kind: RecordKind.awaitCommand.rawValue, words: 2, text: 0) + le64(buffer) + le64(capacity))]
                // The host answers with shutdown: a header and two words.
                let command = UInt64(recordHeaderSize + 16)
                expected = capacity >= command && buffer <= size && size - buffer >= command
                    ? .exited(accepted) : .failure(.channel(.badCommandBuffer(address: buffer, capacity: capacity)))
            default:
                name = "random kind and words"
                let words = UInt16.random(in: 0...32, using: &random)
                let kind = UInt16.random(in: 0...40, using: &random)
                let body = (0..<Int(words) * 8).map { _ in UInt8.random(in: 0...255, using: &random) }
                address = recordAddress(&random, memory: memory, length: 4096)
                let record = header(kind: kind, words: words, text: 0) + body
                records = [.init(physicalAddress: address, bytes: record)]
                expected = try answer(toRecord: record, at: address, memory: memory)
            }
            code.sendRecord(at: UInt32(address))
            code.exit(accepted)
            try attack("round \(round), \(name) at \(String(address, radix: 16))", code: code, records: records,
                       memory: memory, expect: expected)
        }
    }

    func testRandomPortsAndSizes() throws {
        try requireKVM()
        var random = SplitMix64(state: seed ^ 0x9017)
        let serial = GuestPort.serial..<(GuestPort.serial + GuestPort.serialRegisterCount)
        for round in 0..<240 {
            // One port in four is one the host does own.
            let port: UInt16 = switch round % 4 {
            case 0: [GuestPort.report, GuestPort.exit, GuestPort.serial + UInt16.random(in: 0..<8, using: &random)]
                .randomElement(using: &random)!
            default: UInt16.random(in: 0...UInt16.max, using: &random)
            }
            let size = [1, 2, 4].randomElement(using: &random)!
            let isWrite = Bool.random(using: &random)
            let value = UInt32.random(in: 0...UInt32.max, using: &random)
            var code = Code32()
            code.movEDX(UInt32(port))
            code.movEAX(value)
            if isWrite { code.outDX(size: size) } else { code.inDX(size: size) }
            code.exit(accepted)

            let direction: PortDirection = isWrite ? .output : .input
            let expected: Expected
            if serial.contains(port) {
                expected = .exited(accepted)
            } else if port == GuestPort.exit && isWrite {
                let status = size == 4 ? value : value & (size == 2 ? 0xFFFF : 0xFF)
                // Status 5 is the kernel's word for an exception in its exception handler.
                expected = status == ExitStatus.nestedException ? .failure(.nestedException) : .exited(status)
            } else if port == GuestPort.report && isWrite && size != 4 {
                expected = .failure(.channel(.badAccessSize(size)))
            } else if port == GuestPort.report && isWrite {
                // Mostly outside memory; inside, whatever lies there.
                expected = UInt64(value) + UInt64(recordHeaderSize) > 4 << 20
                    ? .failure(.channel(.outsideGuestMemory(address: UInt64(value), length: UInt64(recordHeaderSize))))
                    : .answerToRecord(at: UInt64(value))
            } else if port == GuestPort.report {
                expected = .exited(accepted)  // reading the signature is allowed
            } else {
                expected = .failure(.unexpectedPort(port: port, direction: direction, size: size))
            }
            try attack("round \(round): \(isWrite ? "out" : "in") \(size) bytes at port \(String(port, radix: 16))",
                       code: code, memory: 4 << 20, expect: expected)
        }
    }

    func testMMIOToRandomUnmappedAddresses() throws {
        try requireKVM()
        var random = SplitMix64(state: seed ^ 0x3310)
        for round in 0..<120 {
            let memory = memorySize(&random)
            let size = [1, 2, 4].randomElement(using: &random)!
            var address = UInt32.random(in: UInt32(memory)...0xFFFF_E000, using: &random)
            if round % 8 == 0 { address = address & ~0xFFF | 0xFFD }  // across a page boundary
            let isWrite = Bool.random(using: &random)
            var code = Code32()
            if isWrite { code.store(size: size, at: address) } else { code.load(size: size, from: address) }
            code.exit(accepted)
            // KVM splits an access across a page boundary and exits with
            // its first part: that is the access the host can name.
            let length = min(size, 4096 - Int(address & 0xFFF))
            try attack("round \(round): \(size)-byte MMIO \(isWrite ? "write" : "read") at \(String(address, radix: 16))",
                       code: code, memory: memory,
                       expect: .failure(.mmio(MMIOAccess(address: UInt64(address), length: length, isWrite: isWrite))))
        }
    }

    /// Port writes in a tight loop never end on their own: the deadline ends
    /// them, on time, and the console keeps a bounded transcript.
    func testPortWritesInATightLoopEndAtTheDeadline() throws {
        try requireKVM()
        let timeout: Duration = .milliseconds(500)

        var console = Code32()
        console.movEDX(UInt32(GuestPort.serial))
        let loop = console.bytes.count
        console.outDX(size: 1)
        console.jumpBack(to: loop)
        try attack("out to COM1 in a loop", code: console, memory: 4 << 20, expect: .failure(.timeout(timeout)), timeout: timeout)

        // rep outsb of a whole megabyte at a time, over and over.
        var strings = Code32()
        let stringLoop = strings.bytes.count
        strings.movESI(0x100000)
        strings.movECX(1 << 20)
        strings.movEDX(UInt32(GuestPort.serial))
        strings.repOutsb()
        strings.jumpBack(to: stringLoop)
        try attack("rep outsb to COM1 in a loop", code: strings, memory: 4 << 20, expect: .failure(.timeout(timeout)), timeout: timeout)

        // A valid console record sent again and again.
        let text = Array("flood\n".utf8)
        let flood = recordFlood(header(kind: RecordKind.console.rawValue, words: 0, text: UInt32(text.count)) + text)
        try attack("console records in a loop", code: flood.code, records: [flood.record], memory: 4 << 20,
                   expect: .failure(.timeout(timeout)), timeout: timeout)
    }

    private func recordFlood(_ record: [UInt8]) -> (code: Code32, record: ELFBuilder.Segment, kernel: [UInt8]) {
        HostileRecords.flood(record)
    }

    /// Console records of the largest size, sent as fast as the guest can:
    /// the transcript the host keeps stays within its limit.
    func testTranscriptStaysBoundedUnderAFlood() throws {
        try requireKVM()
        let text = [UInt8](repeating: UInt8(ascii: "x"), count: recordMaximumSize - recordHeaderSize)
        let flood = recordFlood(header(kind: RecordKind.console.rawValue, words: 0, text: UInt32(text.count)) + text)
        let guest = try LiveGuest(kernel: flood.kernel, configuration: .init(memorySize: 8 << 20))
        XCTAssertThrowsError(try guest.runToExit(timeout: .seconds(1))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(.seconds(1)))
        }
        XCTAssertGreaterThan(guest.serial.transcript.count, Serial16550.transcriptLimit, "the flood did fill the transcript")
        XCTAssertLessThanOrEqual(guest.serial.transcript.count, 2 * Serial16550.transcriptLimit)
    }

    /// Program reports sent as fast as the guest can: the host keeps the
    /// newest, within twice its limit, and counts what it let go.
    func testReportFloodKeepsTheNewestWithinTheLimit() throws {
        try requireKVM()
        let flood = recordFlood(header(kind: RecordKind.programReport.rawValue, words: 1, text: 0) + le64(0x5EED))
        let guest = try LiveGuest(kernel: flood.kernel, configuration: .init(memorySize: 8 << 20, reportLimit: 1000))
        XCTAssertThrowsError(try guest.runToExit(timeout: .milliseconds(500))) {
            XCTAssertEqual(($0 as? GuestFailure)?.kind, .timeout(.milliseconds(500)))
        }
        XCTAssertGreaterThan(guest.droppedReports, 0, "the flood went past the limit")
        XCTAssertGreaterThanOrEqual(guest.programReports.count, 1000)
        XCTAssertLessThan(guest.programReports.count, 2000)
        XCTAssertEqual(Set(guest.programReports), [0x5EED])
    }

    /// The guest sends one record, starts writing the next, and triple faults
    /// half-way: the host reports the triple fault and keeps what came before.
    func testTripleFaultInTheMiddleOfAReport() throws {
        try requireKVM()
        let text = Array("first record arrived\n".utf8)
        let first: UInt64 = 0x200000
        let second: UInt32 = 0x201000
        var code = Code32()
        code.sendRecord(at: UInt32(first))
        // Half a header of the second record: magic and kind, no length yet.
        code.movEAX(recordMagic)
        code.store(size: 4, at: second)
        code.movEAX(UInt32(RecordKind.console.rawValue))
        code.store(size: 2, at: second + 4)
        code.tripleFault()
        var builder = ELFBuilder.guest(code: code.bytes)
        builder.segments.append(.init(physicalAddress: first,
                                      bytes: header(kind: RecordKind.console.rawValue, words: 0, text: UInt32(text.count)) + text))
        let guest = try LiveGuest(kernel: builder.build(), configuration: .init(memorySize: 8 << 20))
        do {
            _ = try guest.runToExit(timeout: deadline)
            XCTFail("the guest exited")
        } catch let failure as GuestFailure {
            XCTAssertEqual(failure.kind, .tripleFault)
            XCTAssertEqual(failure.consoleTail, ["first record arrived"])
            XCTAssertEqual(failure.cpu?.rip, codeAddress + UInt64(code.bytes.count - 2), "stopped at the ud2")
        }
        XCTAssertEqual(guest.serial.text, "first record arrived\n", "the half-written record was not taken")
        // The dead guest stays dead: asking again answers again, without a hang.
        XCTAssertThrowsError(try guest.runToExit(timeout: deadline)) { error in
            XCTAssertEqual((error as? GuestFailure)?.kind, .tripleFault)
        }
    }
}
