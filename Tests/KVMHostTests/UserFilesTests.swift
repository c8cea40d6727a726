import Foundation
@testable import KVMHost
import TestSupport
import XCTest

/// Files the user names, read and written as what they are: a device or
/// FIFO is never replaced by a file, a file that is not regular is never
/// opened to block, a file that shrinks is an error, not a SIGBUS; and a
/// child program is bounded in time and output.
final class UserFilesTests: XCTestCase {
    private var temporary: TemporaryDirectory!
    private var directory: String { temporary.path }

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory(prefix: "user-files")
    }

    override func tearDownWithError() throws {
        temporary = nil
    }

    private func fileType(_ path: String) -> mode_t { TemporaryDirectory.fileType(path) }

    private func write(_ text: String, to path: String) throws {
        try UserFiles.write(to: path) { write in try Array(text.utf8).withUnsafeBytes { try write($0.baseAddress!, $0.count) } }
    }

    private func assertRefused<T>(_ body: @autoclosure () throws -> T, _ expected: FileAccessError, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual($0 as? FileAccessError, expected, line: line) }
    }

    /// #5: a FIFO is written as a FIFO (its reader gets the bytes, no file
    /// takes its place); one nothing reads is refused at once.
    func testAFIFOIsWrittenAsAFIFO() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let start = Date()
        assertRefused(try write("x", to: fifo), FileAccessError(path: fifo, access: .write, reason: "it is a FIFO that nothing reads"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0)
        defer { close(reader) }
        try write("through the FIFO", to: fifo)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(reader, &buffer, 64)
        XCTAssertEqual(String(decoding: buffer[0..<max(count, 0)], as: UTF8.self), "through the FIFO")
        XCTAssertEqual(fileType(fifo), S_IFIFO)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["fifo"], "no temporary file left")
    }

    /// #5: /dev/null and /dev/full stay character devices.
    func testDevicesStayDevices() throws {
        try write("into the void", to: "/dev/null")
        XCTAssertEqual(fileType("/dev/null"), S_IFCHR)
        assertRefused(try write("x", to: "/dev/full"),
                      FileAccessError(path: "/dev/full", access: .write, reason: "No space left on device (errno 28)"))
        XCTAssertEqual(fileType("/dev/full"), S_IFCHR)
    }

    /// #5, #6: a directory is refused and stays; a missing directory is
    /// named; a symbolic link stays a link to the file that is replaced.
    func testDirectoriesMissingDirectoriesAndLinks() throws {
        assertRefused(try write("x", to: directory), FileAccessError(
            path: directory, access: .write, reason: "it is a directory; kvmhost writes a regular file, a character device or a FIFO"))
        XCTAssertEqual(fileType(directory), S_IFDIR)
        let missing = directory + "/none/file"
        assertRefused(try write("x", to: missing), FileAccessError(
            path: missing, access: .write, reason: "its directory does not exist (No such file or directory (errno 2))"))
        let target = directory + "/target", link = directory + "/link"
        try write("old", to: target)
        XCTAssertEqual(symlink(target, link), 0)
        try write("new", to: link)
        XCTAssertEqual(fileType(link), S_IFLNK, "the link stays a link")
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "new")
        // A link to nothing yet, relative, through a second link: the file is made where the chain ends.
        let dangling = directory + "/dangling", hop = directory + "/hop"
        XCTAssertEqual(symlink("hop", dangling), 0)
        XCTAssertEqual(symlink("made", hop), 0)
        try write("fresh", to: dangling)
        XCTAssertEqual(fileType(dangling), S_IFLNK, "the link stays a link")
        XCTAssertEqual(fileType(hop), S_IFLNK, "and so does the next")
        XCTAssertEqual(try String(contentsOfFile: directory + "/made", encoding: .utf8), "fresh")
        // A loop of links is refused as the system refuses it.
        XCTAssertEqual(symlink("loop", directory + "/loop"), 0)
        assertRefused(try write("x", to: directory + "/loop"), FileAccessError(path: directory + "/loop", access: .write, errno: ELOOP))
    }

    /// #11, #20: only a regular file is opened for reading, without
    /// blocking; the reason is the file's kind, not a permission.
    func testOnlyRegularFilesAreRead() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertRefused(try UserFiles.openRegularFile(fifo), FileAccessError(path: fifo, access: .read, reason: "it is a FIFO, not a regular file"))
        assertRefused(try UserFiles.openRegularFile("/dev/zero"),
                      FileAccessError(path: "/dev/zero", access: .read, reason: "it is a character device, not a regular file"))
        assertRefused(try UserFiles.openRegularFile(directory),
                      FileAccessError(path: directory, access: .read, reason: "it is a directory, not a regular file"))
        assertRefused(try UserFiles.openRegularFile(directory + "/none"),
                      FileAccessError(path: directory + "/none", access: .read, reason: "no such file"))
    }

    /// The seed snapshot (64 MiB, no pages), its memory size, RAM and
    /// pages rewritten: `pages` marked present and the file that long.
    private func sparseSnapshot(memorySize: UInt64, dataPages: [Int: UInt8]) throws -> (path: String, size: Int) {
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Corpus/snapshot-file/ready-guest-without-pages")
        var bytes = Array(try Data(contentsOf: seed))
        func put(_ value: UInt64, at offset: Int) { for byte in 0..<8 { bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) } }
        put(memorySize, at: 12)
        XCTAssertEqual(Array(bytes[56..<60]), Array("RAMR".utf8))
        put(memorySize, at: 56 + 12 + 8 + 8)
        let memp = bytes.count - 12 - 2048
        XCTAssertEqual(Array(bytes[memp..<memp + 4]), Array("MEMP".utf8))
        let pages = Int(memorySize / 4096)
        let bitmapBytes = (pages + 63) / 64 * 8
        bytes.removeSubrange(memp + 12..<bytes.count)
        put(UInt64(bitmapBytes + pages * 4096), at: memp + 4)
        bytes += [UInt8](repeating: 0xFF, count: bitmapBytes)
        let path = directory + "/sparse.snapshot"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_WRONLY)
        defer { close(descriptor) }
        let size = bytes.count + pages * 4096
        XCTAssertEqual(ftruncate(descriptor, off_t(size)), 0)
        for (page, value) in dataPages {
            let data = [UInt8](repeating: value, count: 4096)
            XCTAssertEqual(pwrite(descriptor, data, 4096, off_t(bytes.count + page * 4096)), 4096)
        }
        return (path, size)
    }

    /// #8: 96 GiB of pages marked present in a sparse file: only the data
    /// the file holds, and only pages not all zeros, reach host memory.
    func testASparseSnapshotTakesOnlyItsData() throws {
        let (path, _) = try sparseSnapshot(memorySize: 96 << 30, dataPages: [5: 0xAB, 7: 0, 25_000_000: 0xCD])
        let start = Date()
        let snapshot = try SnapshotFile.read(from: path)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertEqual(snapshot.memorySize, 96 << 30)
        XCTAssertLessThanOrEqual(snapshot.hostBytes, 2 * 4096 + (2 << 20), "two pages of data (and a huge page at most each)")
        try snapshot.withMemory(at: 5 * 4096, count: 4096) { XCTAssertEqual(Set($0), [0xAB]) }
        try snapshot.withMemory(at: 7 * 4096, count: 4096) { XCTAssertEqual(Set($0), [0]) }
        try snapshot.withMemory(at: 25_000_000 * 4096, count: 16) { XCTAssertEqual(Set($0), [0xCD]) }
    }

    /// #7: a file that shrinks while it is read is a typed error (it was
    /// read through a mapping: SIGBUS).
    func testASnapshotThatShrinksWhileReadIsATypedError() throws {
        let (path, size) = try sparseSnapshot(memorySize: 64 << 20, dataPages: [3: 0x11, 9000: 0x22])
        let (descriptor, openedSize) = try UserFiles.openRegularFile(path)
        defer { close(descriptor) }
        XCTAssertEqual(openedSize, size)
        XCTAssertEqual(truncate(path, off_t(size - 8192)), 0, "someone truncates the file after it was opened")
        XCTAssertThrowsError(try SnapshotFile.decode(source: .file(descriptor: descriptor, path: path, size: openedSize))) { error in
            XCTAssertEqual(error as? FileAccessError, FileAccessError(
                path: path, access: .read,
                reason: "it ended at byte \(size - 8192), before the \(size) it held when opened (it shrank while it was read)"))
        }
    }

    /// #20: a count whose bytes overflow is said as a count, never as a
    /// negative or zero number of bytes.
    func testAHugeCountIsNamedNotWrapped() throws {
        let (path, _) = try sparseSnapshot(memorySize: 64 << 20, dataPages: [:])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let host = try XCTUnwrap((28..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == Array("HOST".utf8) })
        for byte in 0..<8 { bytes[host + 12 + byte] = byte == 7 ? 0x20 : 0 }  // 2^61 map entries of 20 bytes
        let error = try XCTUnwrap(XCTAssertThrowsErrorResult { try bytes.withUnsafeBytes { try SnapshotFile.decode($0) } } as? SnapshotFileError)
        guard case .countTooLarge(section: "HOST", count: 1 << 61, elementSize: 20, let available) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(error.description, "the snapshot is cut short in section HOST: 2305843009213693952 items of 20 bytes, "
                       + "where \(available) bytes are left")
    }

    private func XCTAssertThrowsErrorResult(_ body: () throws -> Any) -> Error? {
        do { _ = try body(); XCTFail("no error"); return nil } catch { return error }
    }

    /// #9: a child that hangs, with a descendant holding its output open,
    /// is killed with its group at the time limit; one that floods is cut
    /// at the output limit; one that exits leaving a descendant with the
    /// pipe is not waited for.
    func testAChildProgramIsBounded() throws {
        let script = directory + "/tool"
        func run(_ text: String, timeout: Double = 1, maximumOutput: Int = 1 << 20) throws -> (BoundedProcess.Outcome, TimeInterval) {
            try text.write(toFile: script, atomically: true, encoding: .utf8)
            XCTAssertEqual(chmod(script, 0o755), 0)
            let start = Date()
            let outcome = try BoundedProcess.run(script, [], timeout: timeout, maximumOutput: maximumOutput)
            return (outcome, Date().timeIntervalSince(start))
        }
        let (hang, hangTime) = try run("#!/bin/sh\ntrap '' TERM\n(trap '' TERM; sleep 60) &\necho partial\nsleep 60\n")
        XCTAssertEqual(hang, BoundedProcess.Outcome(output: Array("partial\n".utf8), status: nil, stopped: "it ran longer than 1.0 s"))
        XCTAssertLessThan(hangTime, 3)
        let (flood, floodTime) = try run("#!/bin/sh\nexec cat /dev/zero\n", timeout: 10, maximumOutput: 100_000)
        XCTAssertEqual(flood.output.count, 100_000)
        XCTAssertEqual(flood.stopped, "it wrote more than 100000 bytes")
        XCTAssertLessThan(floodTime, 5)
        let (left, leftTime) = try run("#!/bin/sh\n(sleep 60) &\necho done\nexit 3\n", timeout: 10)
        XCTAssertEqual(left, BoundedProcess.Outcome(output: Array("done\n".utf8), status: 3, stopped: nil))
        XCTAssertLessThan(leftTime, 5)
    }
}
