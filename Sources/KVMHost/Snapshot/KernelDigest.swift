/// A kernel image's identity for snapshots: FNV-1a over its 8-byte words
/// (and the tail), stable across processes and machines. Not a defence
/// against a forger, a check against restoring onto the wrong kernel.
enum KernelDigest {
    static func of(_ kernel: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        kernel.withUnsafeBytes { bytes in
            let words = bytes.count / 8
            for index in 0..<words {
                hash = (hash ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))) &* 0x100_0000_01B3
            }
            for index in words * 8..<bytes.count { hash = (hash ^ UInt64(bytes[index])) &* 0x100_0000_01B3 }
        }
        return (hash ^ UInt64(kernel.count)) &* 0x100_0000_01B3
    }
}
