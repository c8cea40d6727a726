// The words of a failed guest assertion or in-kernel expectation: its line
// and the values that made it fail, every one of them. The record's text is
// the condition, a NUL, then the file.

public struct AssertionRecord: Wire {
    public var line: UInt64
    public var values: WordList

    public init(line: UInt64, values: WordList) {
        self.line = line
        self.values = values
    }
}
