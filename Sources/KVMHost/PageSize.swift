import MemoryManager

/// The bytes of a page, as an Int for byte counts and pointer arithmetic:
/// the unit of KVM's memory slots and dirty log, of the host's mappings of
/// guest RAM and of a snapshot file's pages. It is the memory manager's
/// `pageSize` (4 KiB), defined once. (The host's page walker and check keep
/// their own, `PageWalker.tableBytes`, with their own entry bits.)
let pageBytes = Int(pageSize)
