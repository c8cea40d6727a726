import GuestProtocol

/// The values of kvmhost's machine options, parsed from the text the user
/// typed: strictly, with one message per mistake that names the option.
/// A library of its own so that the fuzz targets run the same parsing.
public enum MachineArguments {
    /// Guest RAM kvmhost builds, in bytes (`GuestRAM`).
    public static let memoryRange = GuestRAM.minimumBytes...GuestRAM.maximumBytes

    /// Longest timeout that is a number: larger ones do not fit the
    /// watchdog's nanosecond timer. `none` (or `inf`) means no limit.
    public static let maximumTimeoutSeconds: Double = 1_000_000_000

    /// Reserved ranges kvmhost takes; the guest's memory map holds fewer.
    public static let maximumReserveRanges = 256

    /// `--memory SIZE`: a decimal whole number with an optional unit, as
    /// QEMU's -m takes it: K, M, G or T (also KiB, MB and so on: powers of
    /// 1024 all), MiB when there is none; within `memoryRange` and a whole
    /// number of 4 KiB pages.
    public static func memoryBytes(_ text: String) throws(ArgumentError) -> Int {
        func fail(_ problem: String) -> ArgumentError { ArgumentError(option: "--memory", value: text, problem: problem) }
        let digits = text.utf8.prefix { (0x30...0x39).contains($0) }
        let unit = String(decoding: text.utf8.dropFirst(digits.count), as: UTF8.self).lowercased()
        let shifts: [String: Int] = ["": 20, "k": 10, "m": 20, "g": 30, "t": 40]
        var unitLetter = unit
        for suffix in ["ib", "b"] where unitLetter.count == suffix.count + 1 && unitLetter.hasSuffix(suffix) {
            unitLetter = String(unitLetter.dropLast(suffix.count))
        }
        guard !digits.isEmpty, let shift = shifts[unitLetter] else {
            throw fail("is not a size: a whole number with an optional unit K, M, G or T (MiB if none), for example 512 or 64G")
        }
        let limit = "must lie between \(memoryRange.lowerBound >> 20) MiB and \(memoryRange.upperBound >> 30) GiB"
        // More than 20 digits cannot fit; say so before converting.
        guard digits.count <= 20, let number = UInt64(String(decoding: digits, as: UTF8.self)) else { throw fail(limit) }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << UInt64(shift))
        guard !overflow, memoryRange.contains(bytes) else { throw fail(limit) }
        guard bytes % 4096 == 0 else { throw fail("is not a whole number of 4 KiB pages") }
        return Int(bytes)
    }

    /// `--cpu +FEATURE,-FEATURE,...`: QEMU's spelling, each name one of
    /// `CPUFeature` with `+` (give it) or `-` (take it away), each at most once.
    public static func cpuFeatures(_ text: String) throws(ArgumentError) -> CPUSelection {
        func fail(_ problem: String) -> ArgumentError { ArgumentError(option: "--cpu", value: text, problem: problem) }
        let names = CPUFeature.allCases.map { "\($0.name)" }
        guard text.utf8.count <= 256 else { throw fail("is longer than 256 characters") }
        var selection = CPUSelection()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let sign = item.first, sign == "+" || sign == "-" else {
                throw fail("'\(item)' is not +FEATURE or -FEATURE (features: \(names.joined(separator: ", ")))")
            }
            guard let feature = CPUFeature.allCases.first(where: { "\($0.name)" == item.dropFirst() }) else {
                throw fail("'\(item.dropFirst())' is not a feature kvmhost sets (features: \(names.joined(separator: ", ")))")
            }
            guard !selection.enabled.contains(feature) && !selection.disabled.contains(feature) else {
                throw fail("names \(feature.name) more than once")
            }
            if sign == "+" { selection.enabled.append(feature) } else { selection.disabled.append(feature) }
        }
        return selection
    }

    /// `--timeout SECONDS`: a positive decimal number of seconds, at most
    /// `maximumTimeoutSeconds`, or `none`/`inf` for no limit (nil).
    /// `--smp N`: the CPUs the guest has, a plain decimal from 1 to
    /// `GuestCPUs.maximumCount` (QEMU's other -smp keys are not taken);
    /// leading zeros are the number's, as QEMU reads it.
    public static func cpuCount(_ text: String) throws(ArgumentError) -> Int {
        let range = 1...GuestCPUs.maximumCount
        let digits = text.utf8.drop { $0 == 0x30 }
        guard !text.isEmpty, digits.count <= 3, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let count = Int(String(decoding: digits, as: UTF8.self)) ?? (digits.isEmpty ? 0 : nil) else {
            throw ArgumentError(option: "--smp", value: text, problem: "is not a CPU count: a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard range.contains(count) else {
            throw ArgumentError(option: "--smp", value: text, problem: "must lie between \(range.lowerBound) and \(range.upperBound) CPUs")
        }
        return count
    }

    public static func timeout(_ text: String) throws(ArgumentError) -> Duration? {
        let lowered = text.lowercased()
        if lowered == "none" || lowered == "inf" || lowered == "infinity" { return nil }
        // Double() also reads "nan", hex floats and exponents: take digits,
        // one point and an exponent only.
        let allowed = Set("0123456789.eE+-".utf8)
        guard !text.isEmpty, text.utf8.count <= 64, text.utf8.allSatisfy(allowed.contains), let seconds = Double(text),
              seconds.isFinite else {
            throw ArgumentError(option: "--timeout", value: text, problem: "is not a number of seconds (or 'none' for no limit)")
        }
        guard seconds > 0 else { throw ArgumentError(option: "--timeout", value: text, problem: "must be a positive number of seconds") }
        guard seconds <= maximumTimeoutSeconds else {
            throw ArgumentError(option: "--timeout", value: text,
                                problem: "is more than \(Int(maximumTimeoutSeconds)) seconds; use 'none' for no limit")
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded(.up)))
    }

    /// `--reserve START-END`: hexadecimal guest-physical addresses, each
    /// with or without `0x`, START below END.
    public static func reservedRange(_ text: String) throws(ArgumentError) -> Range<UInt64> {
        func fail(_ problem: String) -> ArgumentError { ArgumentError(option: "--reserve", value: text, problem: problem) }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw fail("is not START-END, for example 0x800000-0xa00000") }
        // Addresses as everywhere in the harness (NumberText): hex, 0x optional.
        func address(_ part: Substring, _ name: String) throws(ArgumentError) -> UInt64 {
            let value = Array(part.utf8).withUnsafeBufferPointer { NumberText.address($0) }
            guard let value else {
                var digits = part
                if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
                let hex = !digits.isEmpty && digits.utf8.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: "_") }
                throw fail(hex ? "\(name) '\(part)' does not fit 64 bits" : "\(name) '\(part)' is not a hexadecimal address")
            }
            return value
        }
        let start = try address(parts[0], "START")
        let end = try address(parts[1], "END")
        guard start < end else { throw fail("START is not below END") }
        return start..<end
    }

    /// Every `--reserve` value, checked for count before any is parsed.
    public static func reservedRanges(_ texts: [String]) throws(ArgumentError) -> [Range<UInt64>] {
        guard texts.count <= maximumReserveRanges else {
            throw ArgumentError(option: "--reserve", value: "(\(texts.count) ranges)",
                                problem: "is given more than \(maximumReserveRanges) times")
        }
        var ranges: [Range<UInt64>] = []
        for text in texts { ranges.append(try reservedRange(text)) }
        return ranges
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }
}

/// A bad option value: which option, what was given, what is wrong.
public struct ArgumentError: Error, Equatable, CustomStringConvertible {
    public let option: String
    public let value: String
    public let problem: String

    public var description: String { "\(option) '\(value)' \(problem)" }
}
