// Typed addresses and pages. A virtual address on x86-64 with 4-level paging
// is canonical when bits 63..47 all equal bit 47.

public let pageSize: UInt64 = 4096
public let hugePageSize: UInt64 = 2 << 20
/// What one PDPT entry with the huge flag maps (CPUID's pdpe1gb).
public let gigabytePageSize: UInt64 = 1 << 30
public let entriesPerTable = 512

public struct VirtualAddress: Equatable, Comparable, Sendable {
    public let raw: UInt64

    /// Nil for a non-canonical address.
    public init?(_ raw: UInt64) {
        guard VirtualAddress.isCanonical(raw) else { return nil }
        self.raw = raw
    }

    public static func isCanonical(_ raw: UInt64) -> Bool {
        let top = raw >> 47
        return top == 0 || top == 0x1FFFF
    }

    /// The 9-bit table index at `level` (4 = PML4, 3 = PDPT, 2 = PD, 1 = PT).
    public func index(level: Int) -> Int {
        Int((raw >> (12 + 9 * UInt64(level - 1))) & 0x1FF)
    }

    public var pageOffset: UInt64 { raw & 0xFFF }
    public var page: Page { Page(containing: self) }

    public static func < (lhs: VirtualAddress, rhs: VirtualAddress) -> Bool { lhs.raw < rhs.raw }
}

/// One 4 KiB virtual page.
public struct Page: Equatable, Comparable, Sendable {
    public let start: VirtualAddress

    public init(containing address: VirtualAddress) {
        start = VirtualAddress(address.raw & ~0xFFF)!
    }

    /// Nil unless `raw` is canonical and page-aligned.
    public init?(startingAt raw: UInt64) {
        guard raw & 0xFFF == 0, let address = VirtualAddress(raw) else { return nil }
        start = address
    }

    public static func < (lhs: Page, rhs: Page) -> Bool { lhs.start < rhs.start }
}

/// One 2 MiB virtual page: a PD entry with the huge flag maps it.
public struct HugePage: Equatable, Sendable {
    public let start: VirtualAddress

    /// Nil unless `raw` is canonical and a multiple of 2 MiB.
    public init?(startingAt raw: UInt64) {
        guard raw % hugePageSize == 0, let address = VirtualAddress(raw) else { return nil }
        start = address
    }
}

/// One 1 GiB virtual page: a PDPT entry with the huge flag maps it.
public struct GigabytePage: Equatable, Sendable {
    public let start: VirtualAddress

    /// Nil unless `raw` is canonical and a multiple of 1 GiB.
    public init?(startingAt raw: UInt64) {
        guard raw % gigabytePageSize == 0, let address = VirtualAddress(raw) else { return nil }
        start = address
    }
}
