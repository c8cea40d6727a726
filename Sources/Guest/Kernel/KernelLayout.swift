// Where the kernel lives, from Assembly/kernel-layout.S and guest.lds.S, and the address arithmetic
// that follows from it.

enum KernelLayout {
    static var current: kernel_layout { kernel_layout_get()!.pointee }

    /// The physical address of something inside the kernel image.
    static func physical(ofImage address: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt(bitPattern: address) - current.virtual_base)
    }

    /// A pointer through the direct map to physical memory.
    static func directMap(_ physical: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(physical) + current.direct_map_base)!
    }
}
