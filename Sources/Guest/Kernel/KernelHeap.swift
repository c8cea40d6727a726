// The kernel heap behind Embedded Swift's allocations (posix_memalign, free),
// over the heap area Assembly/cpu-tables.S reserves inside the kernel image.
//
// Small blocks come in 13 power-of-two classes (16 bytes to 64 KiB), each with
// a free list; larger blocks are kept on one first-fit list. Fresh blocks come
// from a bump pointer. Every block has a 16-byte header just below it: its
// capacity, and a tag that catches frees of pointers the heap never handed out.

private let blockTag: UInt64 = 0x4B48_4541_5042_4C4B
private let smallClassCount = 13
private let largeList = smallClassCount
private let headerSize: UInt = 16

enum KernelHeap {
    private static var heads: UnsafeMutablePointer<UInt>? = nil
    private static var bump: UInt = 0
    private static var limit: UInt = 0
    static private(set) var bytesInUse: UInt = 0

    private static func start() -> UnsafeMutablePointer<UInt> {
        if let heads { return heads }
        let layout = kernel_layout_get()!.pointee
        let lists = UnsafeMutablePointer<UInt>(bitPattern: layout.heap_start)!
        for index in 0...largeList { lists[index] = 0 }
        heads = lists
        bump = layout.heap_start + 128
        limit = layout.heap_end
        return lists
    }

    /// The class whose blocks hold `size` bytes, or `largeList`.
    private static func sizeClass(_ size: UInt) -> Int {
        var capacity: UInt = 16
        var index = 0
        while capacity < size {
            capacity <<= 1
            index += 1
            if index == smallClassCount { return largeList }
        }
        return index
    }

    static func allocate(size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
        let lists = start()
        let index = sizeClass(size)
        let capacity = index == largeList ? (size + 15) & ~15 : UInt(16) << UInt(index)
        if alignment <= 16, let reused = takeFree(lists, index: index, capacity: capacity) {
            bytesInUse += header(of: reused).pointee
            return reused
        }
        let align = max(alignment, 16)
        let user = (bump + headerSize + align - 1) & ~(align - 1)
        guard user + capacity <= limit, user + capacity > user else { return nil }
        bump = user + capacity
        let block = UnsafeMutableRawPointer(bitPattern: user)!
        header(of: block).pointee = capacity
        header(of: block).advanced(by: 1).pointee = UInt(blockTag)
        bytesInUse += capacity
        return block
    }

    private static func takeFree(_ lists: UnsafeMutablePointer<UInt>, index: Int, capacity: UInt) -> UnsafeMutableRawPointer? {
        var previous: UnsafeMutablePointer<UInt> = lists.advanced(by: index)
        while previous.pointee != 0 {
            let block = UnsafeMutableRawPointer(bitPattern: previous.pointee)!
            let link = block.assumingMemoryBound(to: UInt.self)
            if index != largeList || header(of: block).pointee >= capacity {
                previous.pointee = link.pointee
                return block
            }
            previous = link
        }
        return nil
    }

    static func free(_ block: UnsafeMutableRawPointer) {
        let lists = start()
        let capacity = header(of: block).pointee
        guard header(of: block).advanced(by: 1).pointee == UInt(blockTag) else {
            kernelPanic("free: not a block of the kernel heap", UInt64(UInt(bitPattern: block)))
        }
        bytesInUse -= capacity
        let index = sizeClass(capacity)
        block.assumingMemoryBound(to: UInt.self).pointee = lists[index]
        lists[index] = UInt(bitPattern: block)
    }

    private static func header(of block: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt> {
        (block - Int(headerSize)).assumingMemoryBound(to: UInt.self)
    }
}

/// posix_memalign, reached through Assembly/runtime.S.
@_cdecl("kernel_heap_posix_memalign")
func kernelHeapPosixMemalign(_ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int) -> CInt {
    guard let block = KernelHeap.allocate(size: UInt(size), alignment: UInt(alignment)) else {
        // Swift cannot go on without the memory; say why before it traps.
        kernelPanic("kernel heap exhausted", UInt64(size))
    }
    result.pointee = block
    return 0
}

/// free, reached through Assembly/runtime.S.
@_cdecl("kernel_heap_free")
func kernelHeapFree(_ block: UnsafeMutableRawPointer?) {
    guard let block else { return }
    KernelHeap.free(block)
}
