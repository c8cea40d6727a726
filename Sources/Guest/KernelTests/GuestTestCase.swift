// Test cases that run inside the kernel, as KUnit's do: each is a function
// over the real memory manager, named once in its *Cases file's list, which
// `GuestTestTable` joins. An
// expectation that fails is sent to the host with its file, line and values
// at once, and the case goes on; the host shows it as a failure at that line.

struct GuestTestCase {
    let name: StaticString
    let body: (inout Expect) -> Void

    init(_ name: StaticString, _ body: @escaping (inout Expect) -> Void) {
        self.name = name
        self.body = body
    }
}

/// The expectations of one running case.
struct Expect {
    private(set) var count: UInt64 = 0
    private(set) var failures: UInt64 = 0

    /// `condition` holds; `values` say what was seen when it does not.
    @inline(never)
    mutating func that(_ condition: Bool, _ text: StaticString, _ values: UInt64...,
                       file: StaticString = #filePath, line: UInt = #line) {
        count += 1
        if condition { return }
        failures += 1
        send(text, values, file: file, line: line)
    }

    private func send(_ text: StaticString, _ values: [UInt64], file: StaticString, line: UInt) {
        sendAssertion(.expectationFailed, text, values, file: file, line: line)
    }

    /// `actual == expected`; when not, both are sent, then `context`.
    @inline(never)
    mutating func equal(_ actual: UInt64, _ expected: UInt64, _ text: StaticString, _ context: UInt64...,
                        file: StaticString = #filePath, line: UInt = #line) {
        count += 1
        if actual == expected { return }
        failures += 1
        send(text, [actual, expected] + context, file: file, line: line)
    }
}

extension ListGuestTests {
    public func perform() throws(CallError) -> [WireBytes] {
        var names: [WireBytes] = []
        for test in GuestTestTable.cases() {
            names.append(WireBytes([UInt8](UnsafeRawBufferPointer(start: test.name.utf8Start, count: test.name.utf8CodeUnitCount))))
        }
        return names
    }
}

extension RunGuestTest {
    public func perform() throws(CallError) -> Reply {
        let cases = GuestTestTable.cases()
        guard index < UInt64(cases.count) else { throw .noSuchTest(index: index) }
        var expect = Expect()
        cases[Int(index)].body(&expect)
        return Reply(expectations: expect.count, failures: expect.failures)
    }
}
