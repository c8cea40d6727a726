import XCTest

/// `image` with the section header of `name` patched: `field` 16 is the
/// section's address, 32 its size (ELF64 section header offsets). Skips
/// the test when the image has no such section.
public func patchingSection(_ image: [UInt8], named name: String, field: Int, to value: UInt64) throws -> [UInt8] {
    func word(_ offset: Int, _ size: Int) -> Int {
        (0..<size).reversed().reduce(0) { $0 << 8 | Int(image[offset + $1]) }
    }
    let table = word(40, 8), count = word(60, 2), names = word(62, 2)
    let strings = word(table + names * 64 + 24, 8)
    for index in 0..<count {
        let header = table + index * 64
        let start = strings + word(header, 4)
        guard let end = image[start...].firstIndex(of: 0) else { continue }
        guard String(decoding: image[start..<end], as: UTF8.self) == name else { continue }
        var patched = image
        for byte in 0..<8 { patched[header + field + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) }
        return patched
    }
    throw XCTSkip("no section \(name) in the image")
}
