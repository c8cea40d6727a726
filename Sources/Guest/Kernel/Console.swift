// Console text. Under KVMHost it travels as a console record on the report
// channel, one exit per write; our KVM turns a `rep outsb` to COM1 into one
// exit per byte, which cost about 4 ms of every boot. Where no channel
// answers (QEMU) it goes to COM1.

enum Console {
    /// COM1's writes, one CPU at a time (the channel's have its own lock).
    private static let lock = SpinLock(.console)

    static func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func write(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if ReportChannel.hostAnswers {
            ReportChannel.send(kind: RecordKind.console) { record in record.appendText(bytes) }
        } else {
            lock.withLock { cpu_out_string8(GuestPort.serial, base, UInt(bytes.count)) }
        }
    }

    /// "0x" and 16 hex digits.
    static func writeHex(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 18) { digits in
            digits[0] = UInt8(ascii: "0")
            digits[1] = UInt8(ascii: "x")
            for index in 0..<16 {
                digits[2 + index] = hexDigit(value >> UInt64(60 - index * 4))
            }
            write(UnsafeRawBufferPointer(digits))
        }
    }

    /// `count` spaces in one write (none for a count of 0 or less): for columns.
    static func writeSpaces(_ count: Int) {
        let spaces: StaticString = "                                "
        guard count > 0 else { return }
        write(UnsafeRawBufferPointer(start: spaces.utf8Start, count: min(count, spaces.utf8CodeUnitCount)))
    }

    static func writeDecimal(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var remaining = value
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining != 0
            write(UnsafeRawBufferPointer(start: digits.baseAddress! + start, count: 20 - start))
        }
    }
}

func hexDigit(_ value: UInt64) -> UInt8 {
    let nibble = UInt8(value & 0xF)
    return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}
