// The report channel to the host. A record is built in a page of the kernel
// image and its physical address leaves in one 32-bit `out`; the host reads
// it from guest memory while the vCPU waits. Where no host answers the port
// (QEMU), the address rings COM2 instead (LinkFrame) and the kernel waits
// for the host's acknowledgement; with no COM2 either, records go out on the
// console as one "@record <hex>" line, so the same report reaches a test
// every way.

enum ReportChannel {
    /// How a record's address reaches the host.
    private enum Doorbell {
        case port
        case serialLink
        case consoleLines
    }

    private static var doorbell = Doorbell.consoleLines
    private static var sequence: UInt32 = 0
    private static var reportPage: UnsafeMutableRawPointer? = nil
    private static var commandPage: UnsafeMutableRawPointer? = nil

    /// True when a host reads records and sends commands (KVMHost on KVM or
    /// on QEMU); false under a bare QEMU.
    static var hostAnswers: Bool { doorbell != .consoleLines }

    /// True when the host answers the input-wait port once console input
    /// is there (KVMHost on KVM); otherwise the kernel polls for it.
    static var hostWaitsWithUs: Bool { doorbell == .port }

    /// Probes the port, then COM2, and sets aside the two pages records live
    /// in, so that a report can still be sent when the heap is exhausted.
    static func start() {
        if cpu_in32(GuestPort.report) == channelSignature {
            doorbell = .port
        } else if SerialLink.probe() {
            doorbell = .serialLink
        }
        reportPage = UnsafeMutableRawPointer.allocate(byteCount: recordMaximumSize, alignment: recordMaximumSize)
        commandPage = UnsafeMutableRawPointer.allocate(byteCount: recordMaximumSize, alignment: recordMaximumSize)
    }

    /// Builds a record of `kind` with `body` and sends it.
    private static var building = false
    /// One CPU at a time builds in the report page and rings.
    private static let lock = SpinLock(.reportChannel)

    static func send(kind: RecordKind, _ body: (inout RecordWriter) -> Void) {
        lock.acquire()
        defer { lock.release() }
        sendBypassingLock(kind: kind, body)
    }

    /// `send` without the lock: for the lock validator's own report, when
    /// the locks are in a state it cannot trust; the run ends after it.
    static func sendBypassingLock(kind: RecordKind, _ body: (inout RecordWriter) -> Void) {
        guard let page = reportPage else {
            Console.write("report channel: not started\n")
            return
        }
        // One report page: a record sent while another is being built would
        // overwrite it. That is a kernel bug; say so on COM1 and stop.
        guard !building else {
            let message: StaticString = "kernel bug: a report sent while another was being built\n"
            cpu_out_string8(GuestPort.serial, message.utf8Start, UInt(message.utf8CodeUnitCount))
            exitGuest(ExitStatus.panic)
        }
        building = true
        defer { building = false }
        sequence &+= 1
        var writer = RecordWriter(base: page, capacity: recordMaximumSize, kind: kind, sequence: sequence)
        body(&writer)
        let length = writer.finish()
        let physical = UInt32(truncatingIfNeeded: KernelLayout.physical(ofImage: page))
        if doorbell == .port {
            cpu_out32(GuestPort.report, physical)
        } else {
            ringWithoutPort(page, length: length, physical: physical)
        }
    }

    /// Asks the host for the next command and returns it once the host has
    /// written it into the command page. Nil when the host wrote no valid command.
    static func awaitCommand() -> RecordView? {
        guard hostAnswers, let commandPage else { return nil }
        commandPage.storeBytes(of: 0, as: UInt32.self)  // no stale command survives
        let physical = KernelLayout.physical(ofImage: commandPage)
        let waiting = AwaitCommandRecord(bufferPhysical: physical, capacity: UInt64(recordMaximumSize))
        send(kind: RecordKind.awaitCommand) { record in record.encode(waiting) }
        let (view, _) = RecordView.validate(UnsafeRawBufferPointer(start: commandPage, count: recordMaximumSize))
        guard let view, view.recordKind == .command else { return nil }
        return view
    }

    /// QEMU's ways: out of line, so that `send` stays small enough to inline
    /// into the reports' callers and a failure's backtrace starts in the code
    /// that reported it.
    @inline(never)
    private static func ringWithoutPort(_ page: UnsafeMutableRawPointer, length: Int, physical: UInt32) {
        if doorbell == .serialLink {
            SerialLink.send(.record, physical)
            SerialLink.awaitAcknowledge()
        } else {
            printAsText(page, length: length)
        }
    }

    private static func printAsText(_ record: UnsafeMutableRawPointer, length: Int) {
        let prefix: StaticString = "@record "
        let lineLength = prefix.utf8CodeUnitCount + length * 2 + 1
        let line = UnsafeMutableRawPointer.allocate(byteCount: lineLength, alignment: 8)
        defer { line.deallocate() }
        line.copyMemory(from: prefix.utf8Start, byteCount: prefix.utf8CodeUnitCount)
        var offset = prefix.utf8CodeUnitCount
        for index in 0..<length {
            let byte = UInt64(record.load(fromByteOffset: index, as: UInt8.self))
            line.storeBytes(of: hexDigit(byte >> 4), toByteOffset: offset, as: UInt8.self)
            line.storeBytes(of: hexDigit(byte), toByteOffset: offset + 1, as: UInt8.self)
            offset += 2
        }
        line.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: offset, as: UInt8.self)
        Console.write(UnsafeRawBufferPointer(start: line, count: lineLength))
    }

    /// Tells a host on the serial link that the kernel waits for console
    /// input, having read `bytesRead` bytes of it so far.
    static func announceWaitForInput(bytesRead: UInt32) {
        if doorbell == .serialLink { SerialLink.send(.wantsInput, bytesRead) }
    }

    /// Tells a host on the serial link the whole status before isa-debug-exit
    /// (which keeps 7 bits of it) ends QEMU.
    static func announceExit(_ status: UInt32) {
        if doorbell == .serialLink { SerialLink.send(.exit, status) }
    }
}

/// COM2 as the doorbell: frames out, acknowledgements in, polled (the kernel
/// takes no interrupts).
private enum SerialLink {
    private static let lineStatus = GuestPort.serialLink + 5
    private static let dataReady: UInt8 = 0x01
    private static let transmitterEmpty: UInt8 = 0x20

    /// A UART answers its scratch register; an absent one reads 0xFF.
    static func probe() -> Bool {
        cpu_out8(GuestPort.serialLink + 7, 0x5A)
        guard cpu_in8(GuestPort.serialLink + 7) == 0x5A else { return false }
        cpu_out8(GuestPort.serialLink + 1, 0x00)  // no interrupts
        cpu_out8(GuestPort.serialLink + 3, 0x03)  // 8N1
        cpu_out8(GuestPort.serialLink + 2, 0x00)  // no FIFO: nothing held back
        return true
    }

    static func send(_ frame: LinkFrame, _ value: UInt32) {
        write(frame.rawValue)
        for index in 0..<frame.valueSize {
            write(UInt8(truncatingIfNeeded: value >> UInt32(8 * index)))
        }
    }

    /// Waits for the host's acknowledgement; any other byte is not one.
    static func awaitAcknowledge() {
        while true {
            while cpu_in8(lineStatus) & dataReady == 0 { cpu_pause() }
            if cpu_in8(GuestPort.serialLink) == linkAcknowledge { return }
        }
    }

    private static func write(_ byte: UInt8) {
        while cpu_in8(lineStatus) & transmitterEmpty == 0 { cpu_pause() }
        cpu_out8(GuestPort.serialLink, byte)
    }
}

/// Ends the run: the host (or QEMU's isa-debug-exit) takes the status.
func exitGuest(_ status: UInt32) -> Never {
    ReportChannel.announceExit(status)
    cpu_out32(GuestPort.exit, status)
    cpu_halt_forever()
    while true {}
}
