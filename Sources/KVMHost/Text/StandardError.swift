import Foundation

/// Best effort, never a trap: FileHandle.write traps when stderr is full or closed.
func writeToStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
