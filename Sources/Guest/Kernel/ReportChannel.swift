// The report channel to the host. A record is built in a page of the kernel
// image and its physical address leaves in one 32-bit `out`; the host reads
// it from guest memory while the vCPU waits. Where no host answers the port
// (QEMU), records go out on the console as one "@record <hex>" line instead,
// so the same report reaches a test either way.

enum ReportChannel {
    private static var present = false
    private static var sequence: UInt32 = 0
    private static var reportPage: UnsafeMutableRawPointer? = nil
    private static var commandPage: UnsafeMutableRawPointer? = nil

    static var hostAnswers: Bool { present }

    /// Probes the port and sets aside the two pages records live in, so that a
    /// report can still be sent when the heap is exhausted.
    static func start() {
        present = cpu_in32(GuestPort.report) == channelSignature
        reportPage = UnsafeMutableRawPointer.allocate(byteCount: recordMaximumSize, alignment: recordMaximumSize)
        commandPage = UnsafeMutableRawPointer.allocate(byteCount: recordMaximumSize, alignment: recordMaximumSize)
    }

    /// Builds a record of `kind` with `body` and sends it.
    private static var building = false

    static func send(kind: RecordKind, _ body: (inout RecordWriter) -> Void) {
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
        if present {
            cpu_out32(GuestPort.report, UInt32(truncatingIfNeeded: KernelLayout.physical(ofImage: page)))
        } else {
            printAsText(page, length: length)
        }
    }

    /// Asks the host for the next command and returns it once the host has
    /// written it into the command page. Nil when the host wrote no valid command.
    static func awaitCommand() -> RecordView? {
        guard present, let commandPage else { return nil }
        commandPage.storeBytes(of: 0, as: UInt32.self)  // no stale command survives
        let physical = KernelLayout.physical(ofImage: commandPage)
        let waiting = AwaitCommandRecord(bufferPhysical: physical, capacity: UInt64(recordMaximumSize))
        send(kind: RecordKind.awaitCommand) { record in record.encode(waiting) }
        let (view, _) = RecordView.validate(UnsafeRawBufferPointer(start: commandPage, count: recordMaximumSize))
        guard let view, view.recordKind == .command else { return nil }
        return view
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
}

/// Ends the run: the host (or QEMU's isa-debug-exit) takes the status.
func exitGuest(_ status: UInt32) -> Never {
    cpu_out32(GuestPort.exit, status)
    cpu_halt_forever()
    while true {}
}
