import Foundation
import GuestImage
import KVMHost
import XCTest

/// Checks of the built guest.elf itself.
final class GuestImageTests: XCTestCase {
    func testGuestHasNoSSEOrMMXInstructions() throws {
        let objdump = try XCTUnwrap(Self.toolchainTool("llvm-objdump"), "llvm-objdump beside swiftc")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: objdump)
        process.arguments = ["-d", GuestImage.kernelURL.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(text.contains("kmain"), "the disassembly covers the Swift kernel")
        let offending = text.split(separator: "\n").filter { $0.contains("%xmm") || $0.contains("%mm") }
        XCTAssertEqual(offending, [], "ring-0 code cannot run SSE/MMX here")
    }

    func testGuestIsAPVHImageLinkedBelow2To47() throws {
        let image = try ELFImage(bytes: GuestImage.kernel())
        XCTAssertEqual(image.pvhEntry & 0xFFF0_0000, 0x100000, "the 32-bit entry lies at its physical address")
        let bytes = try GuestImage.kernel()
        // Every loadable segment's virtual address stays below 2^47.
        let table = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 32, as: UInt64.self) })
        let count = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 56, as: UInt16.self) })
        for index in 0..<count {
            let virtual = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: table + index * 56 + 16, as: UInt64.self) }
            XCTAssertLessThan(virtual, 1 << 47)
        }
    }

    /// A tool from the toolchain that runs this test (beside swift on PATH).
    static func toolchainTool(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in paths + ["/opt/swift/usr/bin"] {
            let swift = URL(fileURLWithPath: directory).appendingPathComponent("swift")
            guard FileManager.default.isExecutableFile(atPath: swift.path) else { continue }
            let candidate = swift.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
        }
        return nil
    }
}
