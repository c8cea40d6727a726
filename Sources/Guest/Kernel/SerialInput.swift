// Console input from COM1. Under KVMHost the kernel halts while no byte is
// waiting and the host resumes it once input arrives, so neither side spins;
// under QEMU (no interrupts set up, so a halt would never end) it polls.

enum SerialInput {
    private static let lineStatus = GuestPort.serial + 5
    private static let dataReady: UInt8 = 0x01

    static func readByte() -> UInt8 {
        while cpu_in8(lineStatus) & dataReady == 0 {
            if ReportChannel.hostAnswers { cpu_halt_once() } else { cpu_pause() }
        }
        return cpu_in8(GuestPort.serial)
    }
}
