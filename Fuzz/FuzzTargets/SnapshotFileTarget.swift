import KVMHost

/// One fuzz input for the snapshot file reader: the bytes of a snapshot
/// file. It is refused with a `SnapshotFileError`, or decoded into a
/// snapshot whose memory is read at both ends. Anything else (a trap, a
/// read outside the input, an allocation the input's size does not pay
/// for) is a bug.
/// Returns the error that refused the input, or nil when it decoded.
@discardableResult
public func fuzzSnapshotFile(_ input: UnsafeRawBufferPointer) -> SnapshotFileError? {
    do {
        let snapshot = try SnapshotFile.decode(input)
        _ = try snapshot.withMemory(at: 0, count: 4096) { $0.first }
        _ = try snapshot.withMemory(at: UInt64(snapshot.memorySize - 4096), count: 4096) { $0.last }
        _ = snapshot.cpu
        return nil
    } catch let error as SnapshotFileError {
        return error
    } catch {
        preconditionFailure("the snapshot reader threw something other than SnapshotFileError: \(error)")
    }
}
