/// The raw profile (.profraw) format that the toolchain's llvm-profdata
/// reads: what compiler-rt's profile runtime writes at a process's exit, here
/// built by the host from sections it read out of guest memory. Version 10,
/// the format of LLVM 21 (this toolchain's); `CoverageTests` proves the
/// toolchain's llvm-profdata takes what this writes.
///
/// Layout: a header of 16 64-bit words, then the per-function records, the
/// counters, the bitmap bytes and the function names, each padded to 8 bytes,
/// exactly as they lie in the image's sections. The records point at their
/// counters relative to their own addresses, so the header carries the
/// sections' distances as the kernel's addresses had them.
public enum RawProfile {
    public static let magic: UInt64 = 0xFF6C_7072_6F66_7281  // "\xfflprofr\x81"
    public static let version: UInt64 = 10
    /// One __llvm_profile_data record: name hash, function hash, counter and
    /// bitmap pointers, function pointer, value-profile pointer, counter
    /// count, value-site counts, bitmap byte count.
    public static let dataRecordSize: UInt64 = 64
    /// The last value-profile kind LLVM 21 knows (IPVK_VTableTarget).
    static let valueKindLast: UInt64 = 2

    /// The profile of one run, from the sections' bytes and the kernel's
    /// virtual addresses of them.
    public static func encode(data: [UInt8], counters: [UInt8], bitmap: [UInt8], names: [UInt8],
                              sections: ProfileSections) -> [UInt8] {
        func padding(_ count: Int) -> Int { (8 - count % 8) % 8 }
        let header: [UInt64] = [
            magic, version,
            0,                                          // binary IDs: none
            UInt64(data.count) / dataRecordSize,
            0,                                          // padding before the counters
            UInt64(counters.count / 8),
            0,                                          // padding after the counters
            UInt64(bitmap.count),
            UInt64(padding(bitmap.count)),
            UInt64(names.count),
            sections.counters.virtual &- sections.data.virtual,
            sections.bitmap.virtual &- sections.data.virtual,
            sections.names.virtual,
            0, 0,                                       // virtual tables: none
            valueKindLast,
        ]
        var bytes: [UInt8] = []
        bytes.reserveCapacity(header.count * 8 + data.count + counters.count + bitmap.count + names.count + 16)
        for word in header { withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) } }
        bytes += data
        bytes += counters
        bytes += bitmap
        bytes += [UInt8](repeating: 0, count: padding(bitmap.count))
        bytes += names
        bytes += [UInt8](repeating: 0, count: padding(names.count))
        return bytes
    }
}
