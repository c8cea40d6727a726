// The kernel's last words: a panic report over the channel, the reason on the
// console, and the exit port. No heap is needed on this path.

func kernelPanic(_ reason: StaticString, _ value: UInt64 = 0) -> Never {
    Console.write("kernel panic: ")
    Console.write(reason)
    Console.write(" ")
    Console.writeHex(value)
    Console.write("\n")
    ReportChannel.send(kind: RecordKind.panic) { record in
        record.append(value)
        record.appendText(reason)
    }
    exitGuest(ExitStatus.panic)
}
