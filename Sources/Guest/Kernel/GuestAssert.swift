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

/// A failed assertion, or a failed expectation of an in-kernel test case:
/// an `AssertionRecord` with every value, then the condition and the file.
func sendAssertion(_ kind: RecordKind, _ text: StaticString, _ values: [UInt64], file: StaticString, line: UInt) {
    values.withUnsafeBytes { values in
        let assertion = AssertionRecord(line: UInt64(line), values: WordList(values))
        ReportChannel.send(kind: kind) { record in
            record.encode(assertion)
            record.appendText(text)
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { nul in
                nul[0] = 0
                record.appendText(UnsafeRawBufferPointer(nul))
            }
            record.appendText(file)
        }
    }
}
