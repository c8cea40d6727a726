// The kernel monitor: a small command shell on the serial console, for
// poking at the memory manager by hand. It makes the same calls the host
// makes (MapPage, FreeFrame, ...), with the same checks, so it cannot break
// the kernel by accident. Bad input gets a one-line error naming the mistake
// and the monitor keeps running; `quit` or Ctrl-D leaves it.

enum Monitor {
    private static var bounds: UnsafeMutablePointer<Int>? = nil

    static func run() {
        let bounds = self.bounds ?? UnsafeMutablePointer<Int>.allocate(capacity: 2 * MonitorWords.capacity)
        self.bounds = bounds
        Console.write("kernel monitor: type help for commands, quit or Ctrl-D to leave\n")
        while true {
            Console.write("monitor> ")
            switch LineEditor.read(prompt: "monitor> ") {
            case .endOfInput:
                Console.write("\n")
                return
            case .interrupted:
                continue
            case .tooLong:
                Console.write("error: the line is longer than ")
                Console.writeDecimal(UInt64(LineEditor.capacity))
                Console.write(" characters; nothing was run\n")
            case .line(let length):
                let words = MonitorWords(LineEditor.line, length: length, bounds: bounds)
                if words.count == 0 && !words.overflowed { continue }
                let command = execute(words)
                // A command is the monitor's call: it must leave no stale translation.
                TLBChecker.check(.endOfMonitorCommand)
                if command?.leavesMonitor == true { return }
            }
        }
    }

    /// Runs the line's command; returns it (nil for a refused line).
    private static func execute(_ words: MonitorWords) -> MonitorCommand? {
        if words.overflowed {
            Console.write("error: more than ")
            Console.writeDecimal(UInt64(MonitorWords.capacity))
            Console.write(" words on the line; nothing was run\n")
            return nil
        }
        guard let command = MonitorCommand.named(words.bytes(0)) else {
            Console.write("error: unknown command '")
            words.write(0)
            Console.write("' (try help)\n")
            return nil
        }
        let given = words.count - 1
        guard command.arguments.contains(given) else {
            Console.write("error: ")
            Console.write(command.usage)
            if given > command.arguments.upperBound {
                Console.write(": '")
                words.write(command.arguments.upperBound + 1)
                Console.write("' is one word too many\n")
            } else {
                Console.write(": missing argument\n")
            }
            return nil
        }
        command.run(words)
        return command
    }

    static func help() {
        for command in MonitorCommand.all {
            Console.write(command.usage)
            Console.writeSpaces(30 - command.usage.utf8CodeUnitCount)
            Console.write(command.summary)
            Console.write("\n")
        }
        Console.write("""
            Addresses are hexadecimal, with or without 0x; counts are decimal.
            Keys: backspace, Ctrl-U, Ctrl-W, left/right, up/down for earlier lines.

            """)
    }
}
