// The host drives the kernel with calls over the report channel: the kernel
// asks for one, runs it, replies, and asks again. This is the only place that
// touches the wire: each call is decoded into its type, its `perform` runs
// with typed arguments, and its typed result or error is encoded back.

enum CallDispatcher {
    static func run() -> Never {
        var command = ReportChannel.awaitCommand()
        while true {
            guard let next = command else { kernelPanic("host wrote no valid command") }
            command = dispatch(next)
        }
    }

    /// Runs one call and returns the next, which its reply waited for.
    private static func dispatch(_ command: RecordView) -> RecordView? {
        let codeWord = command.word(0)
        guard command.wordCount > 0, let code = CallCode(rawValue: codeWord) else {
            return reply(to: command, .unknownCall, codeWord)
        }
        var server = Server(command: command)
        code.visit(&server)
        return server.next
    }

    private struct Server: CallVisitor {
        let command: RecordView
        var next: RecordView? = nil

        mutating func visit<Call: GuestCall>(_ call: Call.Type) {
            var decoder = WireDecoder(record: command, from: 1)
            let decoded: Call
            do throws(WireError) {
                decoded = try Call(from: &decoder)
                try decoder.finish()
            } catch {
                next = reply(to: command, .malformedArguments, error)
                return
            }
            // The call runs before the reply is built: a program run sends records of its own.
            do throws(CallError) {
                next = reply(to: command, .ok, try decoded.perform())
            } catch {
                next = reply(to: command, .failed, error)
            }
        }
    }

    /// Replies, and waits for the next command in the same exit.
    private static func reply<Value: Wire>(to command: RecordView, _ status: CallStatus, _ value: Value) -> RecordView? {
        let sequence = command.sequence, awaiting = ReportChannel.commandBuffer
        return ReportChannel.sendAwaitingCommand(kind: .reply) { record in
            ReplyHeader(callSequence: sequence, status: status.rawValue, awaiting: awaiting).encode(to: &record)
            value.encode(to: &record)
            if !record.complete {
                // What did not fit is said, never cut short silently.
                record.truncateWords(to: 0)
                ReplyHeader(callSequence: sequence, status: CallStatus.replyTooLong.rawValue, awaiting: awaiting).encode(to: &record)
            }
        }
    }
}
