import KVMHost

/// One fuzz input for the gdb stub's packet reader: the bytes a debugger
/// client sends, in any state of the protocol. Every packet that comes out
/// must be within the payload limit and frame back to bytes the reader
/// takes again to the same packet. Returns how many packets came out.
@discardableResult
public func fuzzRemotePackets(_ input: UnsafeRawBufferPointer) -> Int {
    var reader = RemotePacketReader()
    var packets = 0
    for byte in input {
        guard case .packet(let payload)? = reader.take(byte) else { continue }
        precondition(payload.count <= RemotePacketReader.maximumPayload, "a packet of \(payload.count) bytes")
        var again = RemotePacketReader()
        let echoed = RemotePacketReader.frame(payload).compactMap { again.take($0) }
        precondition(echoed == [.packet(payload)], "framing does not round-trip: \(echoed)")
        packets += 1
    }
    return packets
}
