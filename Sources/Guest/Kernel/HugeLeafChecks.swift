// Huge-leaf access checks against the real MMU: in the scratch space, a
// 2 MiB leaf in place of the target's PD entry or a 1 GiB leaf in place of
// its PDPT entry maps the aligned memory around the target's frame, with
// each combination of present, writable, no-execute and user and with or
// without a reserved bit; one ring-0 probe reads, writes or fetches the
// frame through it, and the leaf's accessed and dirty bits are read back.

enum HugeLeafChecks {
    static func run(first: UInt64, count: UInt64) throws(CallError) -> AccessCheckResults {
        let range = try AccessCheckSpace.range(first: first, count: count, total: HugeLeafCheck.count)
        var space = try AccessCheckSpace()
        defer { space.tearDown() }
        defer { space.putTablesBack() }  // first: the tables the teardown unmaps through
        let modes = MMUModes(noExecute: CPUModes.noExecute, smep: CPUModes.smep, smap: CPUModes.smap,
                             gigabytePages: CPUModes.has(.pdpe1gb), physicalAddressBits: Int(CPUModes.physicalAddressBits))
        return space.outcomes(of: range) { index in
            let check = HugeLeafCheck(index: index)
            space.setHugeLeaf(check.entry(around: space.targetFrame.address, modes), level: check.level)
            return (AccessProbe.touch(space.hugeLeafAddress(size: check.pageSize), check.access, writeProtect: check.writeProtect,
                                      alignmentCheckFlag: false), check.level)
        }
    }
}
