// The guest's own types are the host's API: a test that imports KVMHost
// calls `guest.call(MapPage(...))` with the kernel's `PageTableFlags` and
// gets its `FaultReason`s, defined once for both sides.
@_exported import MemoryManager
@_exported import GuestProtocol
