import KVMHost

/// One fuzz input for the ELF/PVH loader: the bytes of a kernel image,
/// whose symbol table (for symbolized reports) and coverage-profile
/// sections are read as well.
/// Parsing may refuse it with an `ELFLoadError`; an image that parses is
/// loaded into 16 MiB of guest memory with the PVH start info beside it,
/// which may refuse it too. Anything but a typed error (a trap, a read or
/// write outside the buffers) is a bug.
/// Returns the error that refused the input, or nil when it loaded.
@discardableResult
public func fuzzELFLoader(_ input: UnsafeRawBufferPointer) -> ELFLoadError? {
    // The symbol table reports read from the same bytes: never a trap.
    let symbols = ELFSymbolTable(elf: [UInt8](input))
    for symbol in symbols.symbols.prefix(16) { _ = symbols.function(containing: symbol.address &+ 1) }
    let image: ELFImage
    do {
        image = try ELFImage(bytes: [UInt8](input))
    } catch let error as ELFLoadError {
        return error
    } catch {
        preconditionFailure("the parser threw something other than ELFLoadError: \(error)")
    }
    // The coverage profile's sections, which every LiveGuest looks for:
    // refused with a CoverageError, or placed whole inside one segment.
    do {
        if let sections = try ProfileSections.validated(image: image) {
            for placement in [sections.data, sections.counters, sections.names, sections.bitmap] where placement.size > 0 {
                precondition(image.segments.contains { placement.physical >= $0.physicalAddress
                    && placement.physical - $0.physicalAddress <= $0.memorySize
                    && $0.memorySize - (placement.physical - $0.physicalAddress) >= placement.size },
                    "a profile section was placed outside its segment")
            }
        }
    } catch {
        // Refused: `validated` throws only CoverageError (typed throws), so
        // nothing else can arrive here.
    }
    do {
        let memory = try GuestMemory(size: 16 << 20)
        let map = try PhysicalMemoryMap(memorySize: UInt64(memory.size))
        try image.load(into: memory, map: map, keepingFree: PVHBoot.bootInfoRange)
        try PVHBoot.writeStartInfo(map: map, cpuCount: 1, into: memory)
        // What parsed must hold what loading relied on.
        for segment in image.segments {
            precondition(segment.fileSize <= segment.memorySize, "a segment's file part exceeds its memory size")
            precondition(segment.fileOffset + segment.fileSize <= UInt64(input.count), "a segment lies outside the file")
            precondition(map.isUsableRAM(segment.physicalRange), "a segment was loaded outside usable RAM")
        }
        return nil
    } catch let error as ELFLoadError {
        return error
    } catch {
        preconditionFailure("the loader threw something other than ELFLoadError: \(error)")
    }
}
