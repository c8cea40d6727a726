// Every place the kernel invalidates translations, by name: the one list.
// `TLB`'s invalidations each name their site, and scripts/mutate-flushes
// reads this list (one `case` a line, as written here) to build a kernel
// with one site disabled at a time and see which tests notice.

enum FlushSite: CaseIterable {
    case mapPageCall            // MapPage: a widened table entry above the new page
    case unmapPageCall          // UnmapPage: the page unmapped
    case reserveSpaceCall       // ReserveSpace: each page of an eager reservation (a table entry above may widen)
    case freeSpaceCall          // FreeSpace: each page of the freed reservation
    case programAllocate        // a process's allocate system call: each page of an eager reservation
    case programFree            // a process's free system call: each page of the reservation
    case programProtect         // a process's protect system call: each backed page made read-only
    case pagemapBenchmarkUnmap  // RunPagemapBenchmark's unmap phase
    case accessCheckEntries     // the access checks' change of the target's table and leaf entries
    case accessCheckHugeLeaf    // the access checks' huge leaf in place of a table
    case inGuestTestCase        // the in-kernel test cases' own flushes of live mappings
    case remoteReaderUnmap      // CheckRemoteShootdown: the page another CPU reads, unmapped
}

/// What a mutant kernel leaves out (scripts/mutate-flushes): built with
/// `-D MUTATION` and a generated `activeMutation`; the shipped kernel has
/// neither, so none of this costs it anything.
enum KernelMutation: Equatable {
    /// The invalidation at the site does not happen.
    case skipFlush(FlushSite)
    /// A frame handed to a process is not zeroed (ProcessRunner.zeroFrame).
    case skipZeroingProcessFrames
    /// A page table that empties is not freed (Pagemap's unmap).
    case keepEmptyPageTables
    /// No TLB shootdown is sent: other CPUs keep every translation the
    /// kernel changes (TLBShootdown).
    case skipShootdowns
}
