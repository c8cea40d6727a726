// User-mode access checks against the real MMU: a scratch process whose
// target page and its PD entry get each combination of present, writable,
// no-execute and user; a few bytes of ring-3 code read, write or fetch the
// target; the page trap records the fault's error code (or the code exits
// through the system call when the access was allowed).

enum UserAccessChecks {
    static let codePage: UInt64 = 0x1000
    static let stackPage: UInt64 = 0x2000
    /// Another 1 GiB region than the code, so its PD entry is its own.
    static let target: UInt64 = 0x4000_0000

    /// Set while checks run: the page trap records instead of deciding.
    static var active = false
    static var errorCode: UInt64 = 0

    // Ring-3 code, one entry each: the access, then SYS_EXIT.
    //   read:  movabs $target, %rdi; mov (%rdi), %al;      mov $1, %eax; int $0x80
    //   write: movabs $target, %rdi; movb $0xC3, (%rdi);   mov $1, %eax; int $0x80
    //   fetch: movabs $target, %rdi; call *%rdi;           mov $1, %eax; int $0x80
    private static let entryStride = 32

    /// Sets the target page's PD and PT entries in the scratch process's
    /// tables; the flush is for the parent, which needs all translations dropped.
    private static func setFlags(_ pagemap: Pagemap, parent: PageTableFlags, leaf: PageTableFlags,
                                 of address: VirtualAddress) -> TLBFlush {
        guard let parentFlush = pagemap.setFlags(parent, level: 2, of: address),
              let leafFlush = pagemap.setFlags(leaf, level: 1, of: address) else {
            kernelPanic("user access checks: the target page's tables are gone", address.raw)
        }
        leafFlush.ignore()  // covered by the parent's flush
        return parentFlush
    }

    static func run() throws(CallError) -> WireBytes {
        guard var pagemap = Pagemap.create(frames: &PhysicalMemory.frames, directMap: KernelLayout.current.direct_map_base) else {
            throw .outOfFrames
        }
        pagemap.shareTopLevelEntry(KernelAddressSpace.kernelSlot, from: KernelAddressSpace.pagemap)
        // Whatever happens below, everything taken goes back.
        var taken: [Frame] = []
        defer {
            for virtual in [codePage, stackPage, target] {
                if let flush = try? pagemap.unmap(Page(startingAt: virtual)!, frames: &PhysicalMemory.frames) {
                    flush.ignore()  // not in CR3 any more
                }
            }
            pagemap.unshareTopLevelEntry(KernelAddressSpace.kernelSlot)
            PhysicalMemory.free(pagemap.root)
            for frame in taken { PhysicalMemory.free(frame) }
        }
        for _ in 0..<3 {
            guard let frame = PhysicalMemory.frames.allocate() else { throw .outOfFrames }
            taken.append(frame)
        }
        let code = taken[0], stack = taken[1], page = taken[2]
        writeCode(KernelLayout.directMap(code.address))
        KernelLayout.directMap(stack.address).initializeMemory(as: UInt8.self, repeating: 0, count: Int(frameSize))
        KernelLayout.directMap(page.address).storeBytes(of: 0xC3, as: UInt8.self)  // ret
        do {
            try pagemap.map(Page(startingAt: codePage)!, to: code, flags: [.user], frames: &PhysicalMemory.frames).ignore()
            try pagemap.map(Page(startingAt: stackPage)!, to: stack, flags: [.user, .writable, .noExecute],
                            frames: &PhysicalMemory.frames).ignore()
            try pagemap.map(Page(startingAt: target)!, to: page, flags: [.user, .writable], frames: &PhysicalMemory.frames).ignore()
        } catch {
            throw .map(error)
        }
        let address = VirtualAddress(target)!
        CurrentProcess.pagemap = pagemap
        active = true
        var results = [UInt8](repeating: 0, count: UserAccessCheck.count)
        do {
            for index in 0..<UserAccessCheck.count {
                let check = UserAccessCheck(index: index)
                setFlags(pagemap, parent: check.parent, leaf: check.leaf, of: address)
                    .flushAll { cpu_write_cr3(UInt(pagemap.root.address)) }  // loads it, dropping every cached translation
                errorCode = 0
                let entry = codePage + UInt64(entryStride * (check.access == .read ? 0 : check.access == .write ? 1 : 2))
                let faulted = user_enter(UInt(entry), UInt(stackPage + pageSize)) == 1
                results[index] = faulted ? 0x80 | UInt8(truncatingIfNeeded: errorCode & 0x1F) : 0
            }
        }
        active = false
        cpu_write_cr3(UInt(KernelAddressSpace.pagemap.root.address))
        // Back to flags the Pagemap's invariants allow, then everything goes back.
        setFlags(pagemap, parent: [.present, .writable, .user], leaf: [.present, .writable, .user], of: address)
            .ignore()  // no longer in CR3
        return WireBytes(results)
    }

    /// Called by the page trap while checks run: note the error code, leave.
    static func recordFault(_ errorCode: UInt64) -> Never {
        self.errorCode = errorCode
        user_leave(1)
    }

    private static func writeCode(_ page: UnsafeMutableRawPointer) {
        page.initializeMemory(as: UInt8.self, repeating: 0xCC, count: Int(frameSize))  // int3 anywhere else
        let accesses: [[UInt8]] = [[0x8A, 0x07], [0xC6, 0x07, 0xC3], [0xFF, 0xD7]]  // mov (%rdi),%al; movb $0xc3,(%rdi); call *%rdi
        for (index, access) in accesses.enumerated() {
            var bytes: [UInt8] = [0x48, 0xBF]  // movabs $target, %rdi
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: target >> UInt64(shift))) }
            bytes += access
            bytes += [0xB8, 0x01, 0x00, 0x00, 0x00, 0xCD, 0x80]  // mov $1, %eax; int $0x80
            for (offset, byte) in bytes.enumerated() {
                page.storeBytes(of: byte, toByteOffset: index * entryStride + offset, as: UInt8.self)
            }
        }
    }
}
