import Glibc

/// A memory file (memfd) holding guest memory at offsets that are
/// guest-physical addresses: what of it holds data. Its holes were never
/// written and read as zeros; reading one through a mapping would give it
/// a page of host memory, so callers ask here first.
enum MemoryFile {
    /// The pages of the file's first `size` bytes that hold data, run by
    /// run, lowest first (lseek SEEK_DATA, SEEK_HOLE). Where the file
    /// cannot say, all of it.
    static func dataRegions(of descriptor: Int32, size: Int) -> [Range<Int>] {
        let pages = size / pageBytes
        var regions: [Range<Int>] = []
        var offset: off_t = 0
        while offset < off_t(size) {
            let data = lseek(descriptor, offset, seekData)
            if data < 0 {
                if errno != ENXIO { regions.append(Int(offset) / pageBytes..<pages) }  // ENXIO: no data from here on
                break
            }
            let hole = min(lseek(descriptor, data, seekHole), off_t(size))
            guard hole > data else {
                regions.append(Int(data) / pageBytes..<pages)
                break
            }
            // Runs are whole pages: memory files are written a page at a time.
            regions.append(Int(data) / pageBytes..<(Int(hole) + (pageBytes - 1)) / pageBytes)
            offset = hole
        }
        return regions
    }

    /// lseek's whence for the next data and the next hole (<unistd.h>,
    /// Linux, under _GNU_SOURCE, which Swift's Glibc module does not define).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
}
