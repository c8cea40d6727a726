// The kernel's last words: a panic report over the channel, the reason on the
// console, and the exit port. No heap is needed on this path.

func kernelPanic(_ reason: StaticString, _ value: UInt64 = 0, detail: StaticString = "") -> Never {
    Console.write("kernel panic: ")
    Console.write(reason)
    if detail.utf8CodeUnitCount > 0 {
        Console.write(": ")
        Console.write(detail)
    }
    Console.write(" ")
    Console.writeHex(value)
    Console.write("\n")
    ReportChannel.send(kind: RecordKind.panic) { record in
        record.append(value)
        record.appendText(reason)
        if detail.utf8CodeUnitCount > 0 {
            record.appendText(": ")
            record.appendText(detail)
        }
    }
    exitGuest(ExitStatus.panic)
}
