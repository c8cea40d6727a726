import Foundation

/// Runs each file (or each file in each directory) through `target`, as
/// libFuzzer would, and says which: a crash names the input that caused it.
public func replay(_ paths: some Sequence<String>, through target: (UnsafeRawBufferPointer) -> some Any) throws {
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
            : [path]
        for file in files {
            print("\(file):")
            let outcome = try Data(contentsOf: URL(fileURLWithPath: file)).withUnsafeBytes(target)
            print("  \(outcome)")
        }
    }
}
