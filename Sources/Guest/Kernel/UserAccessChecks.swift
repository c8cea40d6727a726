// User-mode access checks against the real MMU: in the scratch space, the
// target's leaf and PD entry get each combination of present, writable,
// no-execute and user; a few bytes of ring-3 code read, write or fetch the
// target; the page trap records the fault's error code (or the code exits
// through the system call when the access was allowed), and the accessed
// and dirty bits are read back.

enum UserAccessChecks {
    /// Set while checks run: the page trap records instead of deciding.
    static var active = false
    static var errorCode: UInt64 = 0

    // Ring-3 code, one entry each: the access, then SYS_EXIT.
    //   read:  movabs $target, %rdi; mov (%rdi), %al;      mov $1, %eax; int $0x80
    //   write: movabs $target, %rdi; movb $0xC3, (%rdi);   mov $1, %eax; int $0x80
    //   fetch: movabs $target, %rdi; call *%rdi;           mov $1, %eax; int $0x80
    private static let entryStride = 32

    static func run(first: UInt64, count: UInt64) throws(CallError) -> AccessCheckResults {
        let range = try AccessCheckSpace.range(first: first, count: count, total: UserAccessCheck.count)
        var space = try AccessCheckSpace()
        defer { space.tearDown() }
        writeCode(KernelLayout.directMap(space.code.address))
        CurrentProcess.pagemap = space.pagemap
        active = true
        defer { active = false }
        return space.outcomes(of: range) { index in
            let check = UserAccessCheck(index: index)
            space.set(parent: check.parent, leaf: check.leaf)
            errorCode = 0
            let entry = AccessCheckSpace.codePage + UInt64(entryStride * (check.access == .read ? 0 : check.access == .write ? 1 : 2))
            TLBChecker.check(.returnToUser)
            return (user_enter(UInt(entry), UInt(AccessCheckSpace.stackPage + pageSize), 0, 0, ProcessRunner.userFlags) == 1 ? errorCode : nil, 1)
        }
    }

    /// Called by the page trap while checks run: note the error code, leave.
    static func recordFault(_ errorCode: UInt64) -> Never {
        self.errorCode = errorCode
        UserTraps.leave(1)
    }

    private static func writeCode(_ page: UnsafeMutableRawPointer) {
        page.initializeMemory(as: UInt8.self, repeating: 0xCC, count: Int(frameSize))  // int3 anywhere else
        let accesses: [[UInt8]] = [[0x8A, 0x07], [0xC6, 0x07, 0xC3], [0xFF, 0xD7]]  // mov (%rdi),%al; movb $0xc3,(%rdi); call *%rdi
        for (index, access) in accesses.enumerated() {
            var bytes: [UInt8] = [0x48, 0xBF]  // movabs $target, %rdi
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: AccessCheckSpace.target >> UInt64(shift))) }
            bytes += access
            bytes += [0xB8, 0x01, 0x00, 0x00, 0x00, 0xCD, 0x80]  // mov $1, %eax; int $0x80
            for (offset, byte) in bytes.enumerated() {
                page.storeBytes(of: byte, toByteOffset: index * entryStride + offset, as: UInt8.self)
            }
        }
    }
}
