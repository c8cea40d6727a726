import KVMHost
import XCTest

/// Asserts that `expression` throws exactly `expected` from the guest: the
/// kernel ran the call and refused it with this typed error.
public func XCTAssertCallFails<T>(_ expression: @autoclosure () throws -> T, _ expected: CallError, _ message: @autoclosure () -> String = "",
                                  file: StaticString = #filePath, line: UInt = #line) {
    let context = message().isEmpty ? "" : message() + ": "
    do {
        let value = try expression()
        XCTFail("\(context)expected \(expected), the call returned \(value)", file: file, line: line)
    } catch let error as GuestCallError {
        XCTAssertEqual(error.reason, .failed(expected), "\(context)\(error)", file: file, line: line)
    } catch {
        XCTFail("\(context)expected \(expected), got \(error)", file: file, line: line)
    }
}
