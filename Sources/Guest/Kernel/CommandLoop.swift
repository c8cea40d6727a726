// The host drives the kernel with commands over the report channel: the
// kernel asks for one, does it, replies, and asks again.

enum CommandLoop {
    static func run() -> Never {
        while true {
            guard let command = ReportChannel.awaitCommand() else {
                kernelPanic("host wrote no valid command")
            }
            execute(command)
        }
    }

    private static func execute(_ command: RecordView) {
        let code = command.word(CommandWord.code)
        let first = command.word(CommandWord.argumentsStart)
        let second = command.word(CommandWord.argumentsStart + 1)
        switch code {
        case CommandCode.echo:
            reply(to: command, status: ReplyStatus.ok) { record in
                for index in CommandWord.argumentsStart..<command.wordCount {
                    record.append(command.word(index))
                }
            }
        case CommandCode.raiseException:
            raise(vector: first, address: second)
            reply(to: command, status: ReplyStatus.badArguments) { _ in }
        case CommandCode.spin:
            cpu_spin_forever()
        case CommandCode.assertEqual:
            guestAssert(first == second, "argument 0 == argument 1", first, second)
            reply(to: command, status: ReplyStatus.ok) { _ in }
        case CommandCode.exerciseHeap:
            let before = KernelHeap.bytesInUse
            let result = HeapExercise.run(count: Int(truncatingIfNeeded: min(first, 4096)))
            let after = KernelHeap.bytesInUse
            reply(to: command, status: ReplyStatus.ok) { record in
                record.append(result.checksum)
                record.append(UInt64(before))
                record.append(UInt64(result.peakBytesInUse))
                record.append(UInt64(after))
            }
        case CommandCode.frameStatistics:
            reply(to: command, status: ReplyStatus.ok) { record in FrameCommands.statistics(&record) }
        case CommandCode.allocateFrames:
            reply(to: command, status: ReplyStatus.ok) { record in FrameCommands.allocate(count: first, &record) }
        case CommandCode.freeFrame:
            PhysicalMemory.free(Frame(containing: first))
            reply(to: command, status: ReplyStatus.ok) { _ in }
        case CommandCode.allocateContiguous:
            let address = FrameCommands.allocateContiguous(count: first, alignment: second)
            reply(to: command, status: ReplyStatus.ok) { record in record.append(address) }
        case CommandCode.queryFrame:
            reply(to: command, status: ReplyStatus.ok) { record in FrameCommands.query(first, &record) }
        case CommandCode.exhaustFrames:
            let result = FrameCommands.exhaust()
            reply(to: command, status: ReplyStatus.ok) { record in
                record.append(result.count)
                record.append(result.lowest)
                record.append(result.highest)
            }
        case CommandCode.freeExhausted:
            let count = FrameCommands.freeExhausted()
            reply(to: command, status: ReplyStatus.ok) { record in record.append(count) }
        case CommandCode.requireFrame:
            let frame = PhysicalMemory.requireFrame(for: "a frame the host required")
            reply(to: command, status: ReplyStatus.ok) { record in record.append(frame.address) }
        case CommandCode.mapPage:
            let third = command.word(CommandWord.argumentsStart + 2)
            replyWithStatus(to: command) { record in PagemapCommands.map(first, second, third, &record) }
        case CommandCode.unmapPage:
            replyWithStatus(to: command) { record in PagemapCommands.unmap(first, freeFrame: second == 1, &record) }
        case CommandCode.translate:
            replyWithStatus(to: command) { record in PagemapCommands.translate(first, &record) }
        case CommandCode.pagemapCounts:
            reply(to: command, status: ReplyStatus.ok) { record in
                record.append(KernelAddressSpace.pagemap.root.address)
                record.append(UInt64(KernelAddressSpace.pagemap.tablesCreated))
                record.append(UInt64(KernelAddressSpace.pagemap.tablesFreed))
            }
        case CommandCode.accessChecks:
            replyWithStatus(to: command) { record in AccessChecks.run(&record) }
        case CommandCode.spaceReserve:
            let third = command.word(CommandWord.argumentsStart + 2)
            replyWithStatus(to: command) { record in MemorySpaceCommands.reserve(pages: first, eager: second == 1, flags: third, &record) }
        case CommandCode.spaceFree:
            replyWithStatus(to: command) { record in MemorySpaceCommands.free(first, &record) }
        case CommandCode.spaceQuery:
            reply(to: command, status: ReplyStatus.ok) { record in MemorySpaceCommands.query(first, &record) }
        case CommandCode.pagemapBenchmark:
            replyWithStatus(to: command) { record in MemorySpaceCommands.benchmark(phase: first, count: second, &record) }
        case CommandCode.monitor:
            Monitor.run()
            reply(to: command, status: ReplyStatus.ok) { _ in }
        case CommandCode.listPrograms:
            reply(to: command, status: ReplyStatus.ok) { record in
                for index in 0..<ProcessRunner.programCount() {
                    record.appendText(ProcessRunner.program(index).name)
                    record.appendText("\n")
                }
            }
        case CommandCode.runProgram:
            // The program runs before the reply is built: it sends records of its own.
            if ProcessRunner.run(Int(truncatingIfNeeded: first), reportFaults: second == 1) {
                reply(to: command, status: ReplyStatus.ok) { record in ProcessRunner.writeOutcome(&record) }
            } else {
                reply(to: command, status: ReplyStatus.badArguments) { _ in }
            }
        case CommandCode.userAccessChecks:
            replyWithStatus(to: command) { record in UserAccessChecks.run(&record) }
        case CommandCode.programBuffer:
            let address = ProcessRunner.reserveHostBuffer(bytes: first)
            reply(to: command, status: ReplyStatus.ok) { record in record.append(address) }
        case CommandCode.runImage:
            let third = command.word(CommandWord.argumentsStart + 2)
            if ProcessRunner.runHostImage(physical: first, bytes: second, reportFaults: third == 1) {
                reply(to: command, status: ReplyStatus.ok) { record in ProcessRunner.writeOutcome(&record) }
            } else {
                reply(to: command, status: ReplyStatus.badArguments) { _ in }
            }
        case CommandCode.runSkippingFaults:
            CurrentProcess.skipFaults = true
            let ran = ProcessRunner.run(Int(truncatingIfNeeded: first), reportFaults: false)
            CurrentProcess.skipFaults = false
            if ran {
                reply(to: command, status: ReplyStatus.ok) { record in ProcessRunner.writeOutcome(&record) }
            } else {
                reply(to: command, status: ReplyStatus.badArguments) { _ in }
            }
        case CommandCode.restartFrameSearch:
            PhysicalMemory.frames.startSearch(at: Frame(number: first == 1 ? PhysicalMemory.frames.handedOutBelow : 0))
            reply(to: command, status: ReplyStatus.ok) { _ in }
        case CommandCode.shutdown:
            exitGuest(UInt32(truncatingIfNeeded: first))
        default:
            reply(to: command, status: ReplyStatus.unknownCommand) { record in record.append(code) }
        }
    }

    /// Raises the exception; returns only for a vector it cannot raise.
    private static func raise(vector: UInt64, address: UInt64) {
        switch vector {
        case 0: cpu_raise_divide_error()
        case 3: cpu_raise_breakpoint()
        case 6: cpu_raise_invalid_opcode()
        case 13: cpu_raise_general_protection()
        case 14: _ = cpu_read_byte(UInt(truncatingIfNeeded: address))
        default: return
        }
    }

    /// A reply whose status `body` decides while writing the values.
    private static func replyWithStatus(to command: RecordView, _ body: (inout RecordWriter) -> UInt64) {
        ReportChannel.send(kind: RecordKind.reply) { record in
            record.append(UInt64(command.sequence))
            // The status word is written after the values are known.
            record.append(0)
            let status = body(&record)
            record.replaceWord(ReplyWord.status, with: status)
        }
    }

    private static func reply(to command: RecordView, status: UInt64, _ values: (inout RecordWriter) -> Void) {
        ReportChannel.send(kind: RecordKind.reply) { record in
            record.append(UInt64(command.sequence))
            record.append(status)
            values(&record)
        }
    }
}
