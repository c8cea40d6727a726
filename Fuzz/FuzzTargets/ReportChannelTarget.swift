import GuestProtocol
import KVMHost

/// The guest memory a report-channel fuzz input is laid out in.
public let fuzzChannelMemorySize = 64 << 10

/// One fuzz input for the report-channel decoder: a little-endian UInt32,
/// the address the guest writes to the report port, then the contents of
/// 64 KiB of guest memory from address 0. The host reads and decodes the
/// record there as the port does; a reply's words are also decoded as every
/// call's reply and every call's arguments (the kernel's own decoder, run on
/// the host), for each code in the schema; and the bytes as text go through
/// the "@record" console decoder.
/// Typed errors are expected; anything else (a trap, a read outside guest
/// memory, which the guard pages turn into a crash) is a bug.
/// Returns what the channel made of the record: a report or the error.
@discardableResult
public func fuzzReportChannel(_ input: UnsafeRawBufferPointer) -> Result<GuestReport, ChannelError>? {
    guard input.count >= 4 else { return nil }
    let address = UInt64(input.loadUnaligned(as: UInt32.self).littleEndian)
    let image = UnsafeRawBufferPointer(rebasing: input[4..<min(input.count, 4 + fuzzChannelMemorySize)])
    let outcome: Result<GuestReport, ChannelError>
    do {
        let memory = try GuestMemory(size: fuzzChannelMemorySize)
        try memory.withMutableBytes(at: 0, count: image.count) { $0.copyMemory(from: image) }
        let report = try ReportChannelDevice.readRecord(at: address, in: memory)
        // Reports are printed in failure messages: describing one must not trap either.
        _ = String(describing: report)
        if case .reply(let reply) = report {
            for code in CallCode.allCases {
                var decoder = EveryDecoder(reply: reply)
                code.visit(&decoder)
            }
        }
        outcome = .success(report)
    } catch let error as ChannelError {
        outcome = .failure(error)
    } catch {
        preconditionFailure("the channel threw something other than ChannelError: \(error)")
    }
    do {
        _ = try GuestReport.decodeConsoleLines(String(decoding: image, as: UTF8.self))
    } catch is ChannelError {
    } catch {
        preconditionFailure("console records threw something other than ChannelError: \(error)")
    }
    return outcome
}

/// Decodes one reply's words as a call's reply and as its arguments; a
/// decoder may refuse with its typed error, and must do nothing else.
private struct EveryDecoder: CallVisitor {
    let reply: GuestReply

    mutating func visit<Call: GuestCall>(_ call: Call.Type) {
        if let decoded = try? reply.decode(Call.self) { _ = String(describing: decoded) }
        reply.words.withUnsafeBytes { raw in
            var decoder = WireDecoder(words: raw)
            if let arguments = try? Call(from: &decoder) { _ = String(describing: arguments) }
        }
    }
}
