// A monitor line split into words at spaces, and the rule for reading them:
// addresses in hex (0x optional), counts in decimal (NumberText).

struct MonitorWords {
    static let capacity = 8
    private let line: UnsafeMutablePointer<UInt8>
    private let bounds: UnsafeMutablePointer<Int>
    private(set) var count = 0
    /// More words than `capacity`: the line is refused, not cut.
    private(set) var overflowed = false

    /// `bounds` holds 2 x `capacity` offsets; both buffers belong to the monitor.
    init(_ line: UnsafeMutablePointer<UInt8>, length: Int, bounds: UnsafeMutablePointer<Int>) {
        self.line = line
        self.bounds = bounds
        var index = 0
        while index < length {
            while index < length && line[index] == UInt8(ascii: " ") { index += 1 }
            guard index < length else { break }
            let start = index
            while index < length && line[index] != UInt8(ascii: " ") { index += 1 }
            guard count < Self.capacity else {
                overflowed = true
                return
            }
            bounds[2 * count] = start
            bounds[2 * count + 1] = index
            count += 1
        }
    }

    func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: line + bounds[2 * index], count: bounds[2 * index + 1] - bounds[2 * index])
    }

    func `is`(_ index: Int, _ word: StaticString) -> Bool {
        let bytes = self.bytes(index)
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        for offset in 0..<bytes.count where bytes[offset] != word.utf8Start[offset] { return false }
        return true
    }

    func write(_ index: Int) {
        Console.write(UnsafeRawBufferPointer(bytes(index)))
    }

    func address(_ index: Int) -> UInt64? { NumberText.address(bytes(index)) }
    func count(_ index: Int) -> UInt64? { NumberText.count(bytes(index)) }
}
