import GuestProtocol

extension GuestRAM {
    /// `ranges(bytes:)` as a list, lowest first: one range or two.
    static func rangeList(bytes: UInt64) -> [Range<UInt64>] {
        let (below, above) = ranges(bytes: bytes)
        return [below] + (above.map { [$0] } ?? [])
    }
}
