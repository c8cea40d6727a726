// The kernel's side of the calls about several CPUs.

extension CheckRemoteShootdown {
    public func perform() throws(CallError) -> Reply {
        guard CPUs.count > 1 else { throw .needsSeveralCPUs(online: UInt64(CPUs.count)) }
        var before: [UInt64] = []
        var stale: [UInt64] = []
        for _ in 0..<rounds {
            let round = try RemoteReader.round()
            before.append(round.before)
            stale.append(round.stale)
        }
        return Reply(readsBefore: before, staleReads: stale)
    }
}

extension MeasureSeveralCPUs {
    public func perform() throws(CallError) -> Reply {
        guard CPUs.count > 1 else { throw .needsSeveralCPUs(online: UInt64(CPUs.count)) }
        var samples = [UInt64](repeating: 0, count: Int(rounds))
        func median(_ body: () -> Void) -> UInt64 {
            for index in 0..<Int(rounds) {
                let start = cpu_rdtsc()
                body()
                samples[index] = UInt64(cpu_rdtsc() &- start)
            }
            samples.sort()
            return samples[samples.count / 2]
        }
        let wake = median {
            CPUs.post(.ping, to: 1)
            _ = CPUs.result(of: 1)
        }
        // The pages lie in the kernel region's heap: mapped, and in the
        // address space CPU 1 is about to hold.
        let start = UInt64(KernelLayout.current.heap_start)
        let root = KernelAddressSpace.pagemap.root.address
        let local = median { for page in 0..<pages { TLB.invalidateOnThisCPU(start + page * frameSize) } }
        let localFull = median { TLB.flushOnThisCPU() }
        CPUs.post(.holdAddressSpace, argument: root, to: 1)
        while cpu_atomic_load(&CPUs.area(1).pointee.loaded_root) != UInt(root) { cpu_pause() }
        let shootdown = median { TLBShootdown.send(root: root, start: start, count: pages) }
        let fullShootdown = median { TLBShootdown.send(root: root, start: 0, count: 0) }
        CPUs.release(1)
        _ = CPUs.result(of: 1)
        return Reply(wakeRoundTrip: wake, localInvalidate: local, shootdown: shootdown, localFullFlush: localFull,
                     fullShootdown: fullShootdown)
    }
}
