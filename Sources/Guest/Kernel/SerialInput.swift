// Console input from COM1. Under KVMHost on KVM the kernel reads the
// input-wait port while no byte is waiting, and the host completes that
// read once input arrives, so neither side spins (a `hlt` served until
// several CPUs: KVM's in-kernel LAPIC keeps a halt from reaching the host);
// under QEMU it polls, having told a host on the serial link that it waits.

enum SerialInput {
    private static let lineStatus = GuestPort.serial + 5
    private static let dataReady: UInt8 = 0x01
    /// Bytes read so far, mod 2^32: the serial link's wait for input says it.
    private static var bytesRead: UInt32 = 0

    static func readByte() -> UInt8 {
        if cpu_in8(lineStatus) & dataReady == 0 {
            if ReportChannel.hostWaitsWithUs {
                repeat { _ = cpu_in8(GuestPort.inputWait) } while cpu_in8(lineStatus) & dataReady == 0
            } else {
                ReportChannel.announceWaitForInput(bytesRead: bytesRead)
                repeat { cpu_pause() } while cpu_in8(lineStatus) & dataReady == 0
            }
        }
        bytesRead &+= 1
        return cpu_in8(GuestPort.serial)
    }
}
