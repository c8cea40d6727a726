// The frame allocator's worst case at 99% full in the live kernel, against
// the baseline a simple kernel would use, a linear scan of the bitmap from
// frame 0, over the same bitmap (`MeasureFrameSearch`, kvmbench):
// measurement code, compiled into the kernel on purpose and kept here.

extension MeasureFrameSearch {
    public func perform() throws(CallError) -> Reply { try FrameSearchBenchmark.run() }
}

enum FrameSearchBenchmark {
    static func run() throws(CallError) -> MeasureFrameSearch.Reply {
        let start = cpu_rdtsc()
        let usable = PhysicalMemory.frames.usableFrames
        let before = PhysicalMemory.frames.freeFrames
        let runs = try fill()
        // The 1% left free: the top of the highest run that holds it, ending
        // on a bitmap word one word below the run's end, where the next
        // search starts; next fit goes up to the end of memory, wraps and
        // comes up to it again: one whole lap.
        let freeCount = max(before / 100, 1)
        var top = FrameRange(start: 0, count: 0)
        for run in runs where run.count >= freeCount + 128 && run.start >= top.start { top = run }
        // No run holds the 1% and a word above it: a map too fragmented
        // (or too small) to measure, refused.
        guard top.count > 0, (top.end - 64) & ~63 >= top.start + freeCount else {
            giveBack(runs, except: FrameRange(start: 0, count: 0))
            throw .outOfFrames
        }
        let end = (top.end - 64) & ~63
        let left = FrameRange(start: end - freeCount, count: freeCount)
        freeRange(left)
        PhysicalMemory.frames.startSearch(at: Frame(number: end))

        let nextFitStart = cpu_rdtsc()
        let found = PhysicalMemory.frames.allocate()
        let nextFitCycles = UInt64(cpu_rdtsc() - nextFitStart)
        if let found { PhysicalMemory.frames.giveBack(found) }

        let scanStart = cpu_rdtsc()
        let scanned = PhysicalMemory.frames.withBitmapWords(firstFreeByLinearScan)
        let scanCycles = UInt64(cpu_rdtsc() - scanStart)

        let free = PhysicalMemory.frames.freeFrames
        giveBack(runs, except: left)
        return MeasureFrameSearch.Reply(usableFrames: usable, freeFrames: free, nextFitFrame: found?.number ?? .max,
                                        nextFitCycles: nextFitCycles, linearScanFrame: scanned, linearScanCycles: scanCycles,
                                        totalCycles: UInt64(cpu_rdtsc() - start))
    }

    /// Every free frame, in contiguous runs from 2^20 frames down to one.
    private static func fill() throws(CallError) -> [FrameRange] {
        var runs: [FrameRange] = []
        runs.reserveCapacity(Int(MeasureFrameSearch.runLimit))  // no growth, no copy, while the fill runs
        var count: UInt64 = 1 << 20
        while count > 0 {
            while let first = PhysicalMemory.frames.allocateContiguous(count: count) {
                runs.append(FrameRange(start: first.number, count: count))
                if UInt64(runs.count) == MeasureFrameSearch.runLimit && PhysicalMemory.frames.freeFrames > 0 {
                    giveBack(runs, except: FrameRange(start: 0, count: 0))
                    throw .tooMany(requested: MeasureFrameSearch.runLimit + 1, limit: MeasureFrameSearch.runLimit)
                }
            }
            count >>= 1
        }
        return runs
    }

    /// The baseline: the first clear bit from word 0 up; .max when none.
    private static func firstFreeByLinearScan(_ words: UnsafePointer<UInt64>, _ count: Int) -> UInt64 {
        var index = 0
        while index < count {
            let word = words[index]
            if word != ~0 { return UInt64(index) << 6 + UInt64((~word).trailingZeroBitCount) }
            index += 1
        }
        return .max
    }

    /// Gives every run back but `hole`, which lies inside one and is free already.
    private static func giveBack(_ runs: [FrameRange], except hole: FrameRange) {
        for run in runs {
            if hole.count > 0 && run.start <= hole.start && hole.end <= run.end {
                freeRange(FrameRange(start: run.start, count: hole.start - run.start))
                freeRange(FrameRange(start: hole.end, count: run.end - hole.end))
            } else {
                freeRange(run)
            }
        }
    }

    private static func freeRange(_ range: FrameRange) {
        guard range.count > 0 else { return }
        do throws(FrameError) {
            try PhysicalMemory.frames.free(range)
        } catch {
            kernelPanic("frame search benchmark: a run it took was refused back", range.start)
        }
    }
}
