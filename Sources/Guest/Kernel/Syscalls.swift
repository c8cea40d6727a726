// System calls: `int $0x80` with the number in RAX, arguments in RDI, RSI,
// RDX, the result in RAX. Programs/syscalls.h is the user side.

enum Syscalls {
    static let exit: UInt = 1
    static let write: UInt = 2
    static let allocate: UInt = 3
    static let free: UInt = 4
    static let report: UInt = 5
    static let protect: UInt = 6
    static let failed: UInt = ~0

    static func dispatch(_ frame: UnsafeMutablePointer<trap_frame>) {
        let argument0 = UInt64(frame.pointee.rdi)
        let argument1 = UInt64(frame.pointee.rsi)
        switch frame.pointee.rax {
        case exit:
            // The process's status is its first thread's; the others just end.
            if CPUs.current.pointee.index == 0 { CurrentProcess.status = argument0 }
            UserTraps.leave(0)
        case write:
            frame.pointee.rax = writeConsole(argument0, length: argument1)
        case allocate:
            let address = try? CurrentProcess.space.reserve(
                pages: argument0, backing: argument1 == 1 ? .eager : .lazy, flags: [.user, .writable, .noExecute],
                pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames, zero: ProcessRunner.zeroFrame, invalidate: { TLB.invalidate($0, at: .programAllocate) })
            frame.pointee.rax = UInt(address ?? 0)
        case free:
            FastFaults.disarm()  // the range it serves may be going away
            do {
                try CurrentProcess.space.free(argument0, pagemap: &CurrentProcess.pagemap, frames: &PhysicalMemory.frames,
                                              invalidate: { TLB.invalidate($0, at: .programFree) })
                frame.pointee.rax = 0
            } catch {
                frame.pointee.rax = failed
            }
        case report:
            ReportChannel.send(kind: RecordKind.programReport) { record in record.append(argument0) }
            if CurrentProcess.showReports {
                Console.write("  reports ")
                Console.writeHex(argument0)
                Console.write("\n")
            }
        case protect:
            FastFaults.disarm()  // it maps with the range's old flags
            do {
                try CurrentProcess.space.makeReadOnly(argument0, pagemap: &CurrentProcess.pagemap,
                                                      invalidate: { TLB.invalidate($0, at: .programProtect) })
                frame.pointee.rax = 0
            } catch {
                frame.pointee.rax = failed
            }
        default:
            UserTraps.kill(.badSystemCall, address: UInt64(frame.pointee.rax), frame)
        }
    }

    /// Copies at most one page of the process's text to the console, byte by
    /// byte through its page tables; a bad buffer fails the call.
    private static func writeConsole(_ buffer: UInt64, length: UInt64) -> UInt {
        guard length <= pageSize else { return failed }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Int(pageSize)) { copy in
            for index in 0..<Int(length) {
                guard let byte = UserTraps.userByte(buffer + UInt64(index)) else { return failed }
                copy[index] = byte
            }
            Console.write(UnsafeRawBufferPointer(start: copy.baseAddress, count: Int(length)))
            return UInt(length)
        }
    }
}
