// GUEST_ASSERT, as the Linux KVM selftests have it: a failed condition reaches
// the host with its text, file, line and the values that made it fail.

func guestAssert(_ condition: Bool, _ text: StaticString, _ values: UInt64...,
                 file: StaticString = #fileID, line: UInt = #line) {
    if condition { return }
    Console.write("guest assertion failed: ")
    Console.write(text)
    Console.write("\n")
    sendAssertion(.assertion, text, values, file: file, line: line)
    exitGuest(ExitStatus.assertionFailed)
}

/// A record laid out as `AssertionWord` says: a failed assertion, or a
/// failed expectation of an in-kernel test case.
func sendAssertion(_ kind: RecordKind, _ text: StaticString, _ values: [UInt64], file: StaticString, line: UInt) {
    ReportChannel.send(kind: kind) { record in
        record.append(UInt64(line))
        let count = min(values.count, AssertionWord.maximumValues)
        record.append(UInt64(count))
        for index in 0..<count { record.append(values[index]) }
        record.appendText(text)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { nul in
            nul[0] = 0
            record.appendText(UnsafeRawBufferPointer(nul))
        }
        record.appendText(file)
    }
}
