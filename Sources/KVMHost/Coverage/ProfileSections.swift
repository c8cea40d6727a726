/// Where a kernel built for coverage keeps its profile: the sections the
/// compiler's instrumentation emits (per-function records, counters,
/// function names, MC/DC bitmaps), as the image's section headers place
/// them, and where each lies in guest memory. Only the image says where and
/// how large: the guest controls the bytes, never their extent.
public struct ProfileSections: Equatable, Sendable {
    public struct Placement: Equatable, Sendable {
        public let virtual: UInt64
        public let physical: UInt64
        public let size: UInt64
    }

    public let data: Placement
    public let counters: Placement
    public let names: Placement
    /// Empty unless the kernel was built with MC/DC coverage.
    public let bitmap: Placement

    /// A section larger than this is refused: a kernel has tens of KiB.
    public static let maximumSectionSize: UInt64 = 64 << 20

    /// Why the image's profile sections cannot be read (they lie outside
    /// its loadable segments, overlap, are too large or ragged, or one is
    /// missing), or nil when they can. A guest of such a kernel boots as
    /// any other; only its profile is refused (`check()`).
    public let problem: CoverageError?

    /// Nil when the image has no counters (it is not instrumented: the
    /// plain kernel's linker script names the sections, but they are empty).
    /// Sections that lie do not make this fail: `problem` says why, and
    /// `check()` throws it when a profile is asked for. (It throws nothing;
    /// the signature is kept for its callers.)
    public init?(image: ELFImage) throws(CoverageError) {
        let sections = ELFSymbolTable.sections(of: image.bytes)
        guard let counted = sections["__llvm_prf_cnts"], counted.size > 0 else { return nil }
        do {
            (data, counters, names, bitmap) = try Self.place(sections, in: image)
            problem = nil
        } catch {
            let none = Placement(virtual: 0, physical: 0, size: 0)
            (data, counters, names, bitmap) = (none, none, none, none)
            problem = error
        }
    }

    /// The image's profile sections, or nil when it has none; sections that
    /// cannot be read are thrown as their `CoverageError`.
    public static func validated(image: ELFImage) throws(CoverageError) -> ProfileSections? {
        guard let sections = try ProfileSections(image: image) else { return nil }
        return try sections.check()
    }

    /// These sections, when a profile can be read through them.
    @discardableResult
    public func check() throws(CoverageError) -> ProfileSections {
        if let problem { throw problem }
        return self
    }

    private static func place(_ sections: [String: ELFSymbolTable.Section], in image: ELFImage) throws(CoverageError)
        -> (Placement, Placement, Placement, Placement) {
        func place(_ name: String, required: Bool = true) throws(CoverageError) -> Placement {
            guard let section = sections[name] else {
                if required { throw .missingSection(name) }
                return Placement(virtual: 0, physical: 0, size: 0)
            }
            guard section.size <= Self.maximumSectionSize else { throw .sectionTooLarge(name, size: section.size) }
            if section.size == 0 { return Placement(virtual: section.address, physical: 0, size: 0) }
            // The loader put the section where its segment says: inside one PT_LOAD, whole.
            guard let segment = image.segments.first(where: {
                section.address >= $0.virtualAddress && section.address - $0.virtualAddress <= $0.memorySize
                    && $0.memorySize - (section.address - $0.virtualAddress) >= section.size
            }) else { throw .sectionNotLoaded(name, address: section.address, size: section.size) }
            return Placement(virtual: section.address, physical: segment.physicalAddress + (section.address - segment.virtualAddress),
                             size: section.size)
        }
        let data = try place("__llvm_prf_data")
        let counters = try place("__llvm_prf_cnts")
        let names = try place("__llvm_prf_names")
        let bitmap = try place("__llvm_prf_bits", required: false)
        guard data.size % RawProfile.dataRecordSize == 0 else { throw .malformedSection("__llvm_prf_data", size: data.size) }
        guard counters.size % 8 == 0 else { throw .malformedSection("__llvm_prf_cnts", size: counters.size) }
        // Each lies inside a segment, so none wraps; no two may share bytes.
        let named = [("__llvm_prf_data", data), ("__llvm_prf_cnts", counters), ("__llvm_prf_names", names), ("__llvm_prf_bits", bitmap)]
            .filter { $0.1.size > 0 }
        for (index, (name, placement)) in named.enumerated() {
            for (otherName, other) in named[(index + 1)...]
            where placement.physical < other.physical + other.size && other.physical < placement.physical + placement.size {
                throw .overlappingSections(name, otherName)
            }
        }
        return (data, counters, names, bitmap)
    }
}

/// Why no coverage profile could be taken.
public enum CoverageError: Error, Equatable, CustomStringConvertible {
    /// The kernel has no profile sections: it was not built for coverage.
    case notInstrumented
    case missingSection(String)
    case sectionTooLarge(String, size: UInt64)
    /// The section does not lie inside one loadable segment of the image.
    case sectionNotLoaded(String, address: UInt64, size: UInt64)
    /// The section's size is not a whole number of its records.
    case malformedSection(String, size: UInt64)
    /// Two sections share bytes.
    case overlappingSections(String, String)
    /// Guest memory does not hold the section where the image put it.
    case unreadable(String, physical: UInt64, size: UInt64)
    case cannotWrite(path: String, reason: String)

    /// Whether the kernel image is at fault (its profile is missing or its
    /// sections lie), rather than the output.
    public var isImageProblem: Bool {
        if case .cannotWrite = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .notInstrumented: return "the kernel has no profile sections: boot guest-coverage.elf (GuestImage.coverageKernel) for coverage"
        case .missingSection(let name): return "the kernel's profile has no \(name) section"
        case .sectionTooLarge(let name, let size):
            return "the kernel's \(name) section is \(size) bytes, more than the \(ProfileSections.maximumSectionSize) taken"
        case .sectionNotLoaded(let name, let address, let size):
            return "the kernel's \(name) section (\(hex(address)) + \(size) bytes) lies outside its loadable segments"
        case .malformedSection(let name, let size): return "the kernel's \(name) section of \(size) bytes is not whole records"
        case .overlappingSections(let first, let second): return "the kernel's \(first) and \(second) sections overlap"
        case .unreadable(let name, let physical, let size):
            return "guest memory does not hold \(name) at \(hex(physical)) + \(size) bytes"
        case .cannotWrite(let path, let reason): return "cannot write the coverage profile \(path): \(reason)"
        }
    }
}
