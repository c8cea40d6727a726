/// The gdb remote serial protocol's framing: `$payload#xx` packets with a
/// checksum, `+`/`-` acknowledgements, and 0x03 (Ctrl-C) on its own. The
/// reader takes whatever bytes a client sends, one at a time, with bounded
/// memory: a packet longer than `maximumPayload` is dropped whole and
/// reported, a bad checksum is reported, and nothing a client sends traps.
public struct RemotePacketReader: Sendable {
    public enum Item: Equatable, Sendable {
        /// A packet whose checksum matched, its `}` escapes undone.
        case packet([UInt8])
        case badChecksum
        case tooLong
        /// 0x03 outside a packet: stop the running guest.
        case interrupt
        case acknowledged
        case retransmitRequested
    }

    /// What the stub announces as PacketSize (hex 4000).
    public static let maximumPayload = 0x4000

    private enum State: Sendable {
        case idle
        case payload
        case escaped
        case checksum(high: UInt8?)
    }

    private var state = State.idle
    private var payload: [UInt8] = []
    private var sum: UInt8 = 0
    private var overflowed = false

    public init() {}

    public mutating func take(_ byte: UInt8) -> Item? {
        switch state {
        case .idle:
            switch byte {
            case UInt8(ascii: "$"):
                state = .payload
                payload.removeAll(keepingCapacity: true)
                sum = 0
                overflowed = false
            case 0x03: return .interrupt
            case UInt8(ascii: "+"): return .acknowledged
            case UInt8(ascii: "-"): return .retransmitRequested
            default: break  // noise between packets
            }
        case .payload, .escaped:
            if case .payload = state, byte == UInt8(ascii: "#") {
                state = .checksum(high: nil)
                return nil
            }
            sum &+= byte
            if case .escaped = state {
                append(byte ^ 0x20)
                state = .payload
            } else if byte == UInt8(ascii: "}") {
                state = .escaped
            } else {
                append(byte)
            }
        case .checksum(let high):
            guard let digit = Self.hexValue(byte) else {
                state = .idle
                return .badChecksum
            }
            guard let high else {
                state = .checksum(high: digit)
                return nil
            }
            state = .idle
            if overflowed { return .tooLong }
            return high << 4 | digit == sum ? .packet(payload) : .badChecksum
        }
        return nil
    }

    private mutating func append(_ byte: UInt8) {
        if payload.count < Self.maximumPayload { payload.append(byte) } else { overflowed = true }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// `$payload#xx`, with `#`, `$`, `}` and `*` escaped.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(payload.count + 4)
        for byte in payload {
            if byte == UInt8(ascii: "#") || byte == UInt8(ascii: "$") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "*") {
                body += [UInt8(ascii: "}"), byte ^ 0x20]
            } else {
                body.append(byte)
            }
        }
        let sum = body.reduce(UInt8(0), &+)
        return [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Array(hexByte(sum).utf8)
    }
}

func hexByte(_ value: UInt8) -> String {
    let digits = "0123456789abcdef".utf8.map { $0 }
    return String(decoding: [digits[Int(value >> 4)], digits[Int(value & 15)]], as: UTF8.self)
}

/// Bytes as lowercase hex, and back.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = ""
        for byte in bytes { text += hexByte(byte) }
        return text
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count / 2)
        var index = 0
        while index < bytes.count {
            guard let high = RemotePacketReader.hexValue(bytes[index]), let low = RemotePacketReader.hexValue(bytes[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    /// A hex number of at most 16 digits.
    static func number(_ text: Substring) -> UInt64? {
        // Hex digits only: UInt64(_:radix:) would take a sign too.
        guard !text.isEmpty, text.count <= 16, text.allSatisfy(\.isHexDigit) else { return nil }
        return UInt64(text, radix: 16)
    }
}
