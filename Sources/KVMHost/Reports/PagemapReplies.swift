import GuestProtocol

/// The guest Pagemap's answer to `translate`.
public enum GuestTranslation: Equatable, Sendable {
    case mapped(physical: UInt64, flags: UInt64, pageSize: UInt64)
    case notPresent(level: Int, lazy: Bool)

    public init(reply: GuestReply) throws {
        let words = reply.values
        guard reply.status == ReplyStatus.ok, words.count >= 3 else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "translate replied status \(reply.status), \(words)")
        }
        if words[TranslateWord.mapped] == 1, words.count >= 4 {
            self = .mapped(physical: words[TranslateWord.physical], flags: words[TranslateWord.flags],
                           pageSize: words[TranslateWord.pageSize])
        } else {
            self = .notPresent(level: Int(clamping: words[TranslateWord.level]), lazy: words[TranslateWord.lazy] == 1)
        }
    }
}

extension LiveGuest {
    /// Runs the kernel-mode access checks; one byte a combination: 0x80 | the
    /// page-fault error code when the access faulted, 0 when it did not.
    public func accessCheckResults(timeout: Duration = .seconds(60)) throws -> [UInt8] {
        let reply = try execute(.accessChecks, timeout: timeout)
        guard reply.status == ReplyStatus.ok else {
            throw ChannelError.undecodable(kind: RecordKind.reply, reason: "access checks replied status \(reply.status)")
        }
        return reply.text
    }

    public func translate(_ virtual: UInt64, timeout: Duration = LiveGuest.defaultTimeout) throws -> GuestTranslation {
        try GuestTranslation(reply: execute(.translate(virtual: virtual), timeout: timeout))
    }
}
