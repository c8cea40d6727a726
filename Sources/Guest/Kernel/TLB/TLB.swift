// The kernel's only ways to drop translations from the TLB: an invlpg of a
// page, a reload of CR3, and loading another address space. Each tells the
// TLB checker what it discharged, so a page-table write that needed one of
// them and got none is found (`TLBChecker`), and each reaches every other
// CPU that has the same address space loaded (`TLBShootdown`). Nothing else
// in the kernel runs invlpg or writes CR3. The checker judges each CPU's
// writes against that CPU's flushes; the flushes a shootdown asks of the
// other CPUs (the `OnThisCPU` ones) are the shootdown's, and it waits for each.

enum TLB {
    /// The root (PML4 physical address) in this CPU's CR3, once the kernel
    /// loaded its own: its area's, which shootdowns read too.
    static var loadedRoot: UInt64 { UInt64(cpu_atomic_load(&CPUs.current.pointee.loaded_root)) }

    /// invlpg: drops the page's translation (and, as the CPU does, every
    /// cached table entry) in the loaded address space.
    static func invalidate(_ address: UInt64, at site: FlushSite) {
#if MUTATION
        if activeMutation == .skipFlush(site) { return }
#endif
        cpu_invlpg(UInt(address))
        TLBChecker.invalidated(address)
        shootDown(start: address, count: 1)
    }

    /// What the CPU did itself: taking a page fault drops the faulting
    /// address's translations and cached table entries (Intel SDM 4.10.4.1),
    /// so a table entry the page trap widens above the page it maps needs
    /// nothing more. (A speculative walk could cache the narrow entry again
    /// before the write; a kernel that must rule that out handles spurious
    /// faults, as Linux does.)
    static func pageFaultInvalidated(_ address: UInt64) {
        TLBChecker.invalidated(address)
    }

    /// Reloads CR3: drops every translation (there are no global pages).
    /// What a changed table entry needs, since every address below it may be cached.
    static func flushAll(at site: FlushSite) {
#if MUTATION
        if activeMutation == .skipFlush(site) { return }
#endif
        cpu_write_cr3(UInt(loadedRoot))
        TLBChecker.flushedAll()
        shootDown(start: 0, count: 0)
    }

    /// The other CPUs with this address space loaded drop the same translations.
    private static func shootDown(start: UInt64, count: UInt64) {
#if MUTATION
        if activeMutation == .skipShootdowns { return }
#endif
        TLBShootdown.send(root: loadedRoot, start: start, count: count)
        TLBChecker.shotDown(start: start, count: count)
    }

    /// Loads `pagemap`, or flushes it where it is loaded already: how the
    /// access checks make each new combination of entries take effect.
    static func reload(_ pagemap: Pagemap, at site: FlushSite) {
        if pagemap.root.address == loadedRoot {
            flushAll(at: site)
        } else {
            load(pagemap)
        }
    }

    /// Loads `pagemap`'s tables into CR3, which drops every translation.
    static func load(_ pagemap: Pagemap) {
        cpu_atomic_store(&CPUs.current.pointee.loaded_root, UInt(pagemap.root.address))
        cpu_write_cr3(UInt(pagemap.root.address))
        TLBChecker.flushedAll()
    }

    // ---- on a CPU other than the boot CPU, for a shootdown or its own work

    /// invlpg on this CPU alone: a shootdown's request.
    static func invalidateOnThisCPU(_ address: UInt64) {
        cpu_invlpg(UInt(address))
    }

    /// Reloads this CPU's CR3 alone: a shootdown's request.
    static func flushOnThisCPU() {
        cpu_write_cr3(cpu_read_cr3())
    }

    /// Loads `root` (a PML4, physical) on this CPU, saying so for shootdowns.
    static func loadOnThisCPU(_ root: UInt64) {
        cpu_atomic_store(&CPUs.current.pointee.loaded_root, UInt(root))
        cpu_write_cr3(UInt(root))
    }
}
