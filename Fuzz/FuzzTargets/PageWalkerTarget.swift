import KVMHost

/// The guest memory a page-walker fuzz input is laid out in.
public let fuzzWalkerMemorySize = 16 << 10

/// Limits small enough that a self-referencing input costs microseconds,
/// not the standard limits' hundreds of milliseconds.
public let fuzzWalkerLimits = AddressSpaceMap.Limits(tables: 16, regions: 512)
public let fuzzCheckLimits = PageTableCheck.Limits(tables: 16, mappings: 512, violations: 8)

/// One fuzz input for the host's page walkers: CR3 (a little-endian
/// UInt64), a virtual address (UInt64), then the contents of 16 KiB of
/// guest memory from address 0, holding whatever tables the input chose.
/// The address-space map must end with regions or a typed error within its
/// limits; the one-address walk must end in at most four steps; the
/// page-table check, reading a published table at the virtual address's
/// low bits (word-aligned), must end with a report or a typed error.
/// Returns the map's error, or nil when it mapped.
@discardableResult
public func fuzzPageWalkers(_ input: UnsafeRawBufferPointer) -> AddressSpaceMapError? {
    guard input.count >= 16 else { return nil }
    let cr3 = UInt64(littleEndian: input.loadUnaligned(as: UInt64.self))
    let virtual = UInt64(littleEndian: input.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    let image = UnsafeRawBufferPointer(rebasing: input[16..<min(input.count, 16 + fuzzWalkerMemorySize)])
    let memory: GuestMemory
    do {
        memory = try GuestMemory(size: fuzzWalkerMemorySize)
        try memory.withMutableBytes(at: 0, count: image.count) { $0.copyMemory(from: image) }
    } catch {
        preconditionFailure("setting up guest memory failed: \(error)")
    }
    for address in [virtual, virtual ^ (1 << 47), ~virtual] {
        if let walk = try? PageWalker(memory: memory).walk(cr3: cr3, virtual: address) {
            precondition(walk.steps.count <= 4, "a walk took \(walk.steps.count) steps")
        }
    }
    _ = fuzzPageTableCheck(memory: memory, tableAddress: virtual & 0x3FF8)
    do {
        let map = try AddressSpaceMap(memory: memory, cr3: cr3, limits: fuzzWalkerLimits)
        precondition(map.regions.count <= fuzzWalkerLimits.regions, "more regions than the limit")
        for region in map.regions { precondition(region.start < region.end || region.end == 0, "an empty region") }
        _ = map.description
        return nil
    } catch {
        return error
    }
}

/// The page-table check over the input's memory, with the published table
/// at `tableAddress`: a report within its limits, or a typed error.
public func fuzzPageTableCheck(memory: GuestMemory, tableAddress: UInt64) -> Result<PageTableCheck.Report, PageTableCheckError> {
    do throws(PageTableCheckError) {
        let report = try PageTableCheck.run(memory: memory, tableAddress: tableAddress, physicalAddressBits: 40, limits: fuzzCheckLimits)
        precondition(report.violations.count <= fuzzCheckLimits.violations, "more violations than the limit")
        precondition(report.tables <= fuzzCheckLimits.tables, "more tables than the limit")
        _ = report.description
        return .success(report)
    } catch {
        _ = error.description
        return .failure(error)
    }
}
