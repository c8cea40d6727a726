// WireCodeGenerator OUTPUT DIRECTORY...
// Reads the Swift declarations under each DIRECTORY and writes OUTPUT: the
// wire coding of every Wire and GuestCall type, the CallCode list and the
// wire format's fingerprint. scripts/generate-wire-coding runs it into
// Sources/Guest/Protocol/WireCoding.generated.swift, which the host and the
// kernel both compile. (Not a build-tool plugin: a plugin's tool is built
// with the build's flags, and a fuzzing build's libFuzzer `main` collides
// with the tool's own.) WireCodeGeneratorTests fails while the file is stale.

import Foundation

// `@main`, not top-level code: a fuzzing build (scripts/fuzz) compiles every
// executable, this one too, as a library.
@main
enum WireCodeGenerator {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count >= 2, let outputPath = arguments.first else {
            FileHandle.standardError.write(Data("usage: WireCodeGenerator OUTPUT DIRECTORY...\n".utf8))
            exit(64)
        }

        do {
            var blocks: [TypeBlock] = []
            for directory in arguments.dropFirst() {
                let root = URL(fileURLWithPath: directory)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw DeclarationError(location: SourceLocation(file: directory, line: 0), message: "not a directory")
                }
                var unreadable: [String] = []
                let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) { url, error in
                    unreadable.append("\(url.path): \(error)")
                    return false
                }
                let files = (walker?.compactMap { $0 as? URL } ?? [])
                    .filter { $0.pathExtension == "swift" && !$0.lastPathComponent.hasSuffix(".generated.swift") }.map(\.path).sorted()
                if let first = unreadable.first {
                    throw DeclarationError(location: SourceLocation(file: directory, line: 0), message: "cannot read \(first)")
                }
                guard !files.isEmpty else {
                    throw DeclarationError(location: SourceLocation(file: directory, line: 0), message: "holds no Swift source")
                }
                for file in files {
                    blocks += try DeclarationReader.read(file: file, text: String(contentsOfFile: file, encoding: .utf8))
                }
            }
            var writer = try WireCodeWriter(blocks: blocks)
            let text = try writer.write()
            // Written only when it changed, so that an unchanged protocol rebuilds nothing.
            if (try? String(contentsOfFile: outputPath, encoding: .utf8)) != text {
                try text.write(toFile: outputPath, atomically: true, encoding: .utf8)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
    }
}
