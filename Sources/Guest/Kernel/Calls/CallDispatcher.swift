// The host drives the kernel with calls over the report channel: the kernel
// asks for one, runs it, replies, and asks again. This is the only place that
// touches the wire: each call is decoded into its type, its `perform` runs
// with typed arguments, and its typed result or error is encoded back.

enum CallDispatcher {
    static func run() -> Never {
        while true {
            guard let command = ReportChannel.awaitCommand() else {
                kernelPanic("host wrote no valid command")
            }
            dispatch(command)
        }
    }

    private static func dispatch(_ command: RecordView) {
        let codeWord = command.word(0)
        guard command.wordCount > 0, let code = CallCode(rawValue: codeWord) else {
            reply(to: command, .unknownCall, codeWord)
            return
        }
        var server = Server(command: command)
        code.visit(&server)
    }

    private struct Server: CallVisitor {
        let command: RecordView

        mutating func visit<Call: GuestCall>(_ call: Call.Type) {
            var decoder = WireDecoder(record: command, from: 1)
            let decoded: Call
            do throws(WireError) {
                decoded = try Call(from: &decoder)
                try decoder.finish()
            } catch {
                reply(to: command, .malformedArguments, error)
                return
            }
            // The call runs before the reply is built: a program run sends records of its own.
            // The TLB checker looks before the reply: a call that left a
            // translation stale fails here, whatever it returns.
            do throws(CallError) {
                let result = try decoded.perform()
                TLBChecker.check(.endOfCall)
                reply(to: command, .ok, result)
            } catch {
                TLBChecker.check(.endOfCall)
                reply(to: command, .failed, error)
            }
        }
    }

    private static func reply<Value: Wire>(to command: RecordView, _ status: CallStatus, _ value: Value) {
        ReportChannel.send(kind: .reply) { record in
            ReplyHeader(callSequence: command.sequence, status: status.rawValue).encode(to: &record)
            value.encode(to: &record)
            if !record.complete {
                // What did not fit is said, never cut short silently.
                record.truncateWords(to: 0)
                ReplyHeader(callSequence: command.sequence, status: CallStatus.replyTooLong.rawValue).encode(to: &record)
            }
        }
    }
}
