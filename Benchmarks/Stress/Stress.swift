import ArgumentParser
import Foundation
import GuestImage
import KVMHost
import ProcessResources
import StressCycle
import Synchronization

/// Long runs that the test suite only samples: many boot-run-destroy cycles
/// in one process, and every core busy with VMs for a while. Exits non-zero
/// when a cycle fails or the process does not end holding what it started with.
@main
struct Stress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvmstress",
        abstract: "Boot-run-destroy cycles and a soak on every core, checking that nothing leaks or fails.")

    @Option(help: "Boot-run-destroy cycles, one after the other (0 skips them).")
    var cycles = 1000

    @Option(help: "Seconds of the soak, with one VM thread per core (0 skips it).")
    var soakSeconds = 60

    @Option(help: "Threads in the soak (default: one per core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("resident-slack"), help: ArgumentHelp("Largest growth of resident memory accepted.", valueName: "MiB"))
    var residentSlackMiB = 16

    func validate() throws {
        guard cycles >= 0 else { throw ValidationError("--cycles must be 0 or more; got \(cycles)") }
        guard soakSeconds >= 0 else { throw ValidationError("--soak-seconds must be 0 or more; got \(soakSeconds)") }
        guard threads >= 1 else { throw ValidationError("--threads must be 1 or more; got \(threads)") }
        guard (0...(1 << 20)).contains(residentSlackMiB) else {
            throw ValidationError("--resident-slack must lie between 0 and 1048576 MiB; got \(residentSlackMiB)")
        }
    }

    func run() throws {
        let kernel = try GuestImage.kernel()
        var failed = false
        if cycles > 0 { failed = try !runCycles(kernel) || failed }
        if soakSeconds > 0 { failed = !soak(kernel) || failed }
        if failed { throw ExitCode.failure }
    }

    private func runCycles(_ kernel: [UInt8]) throws -> Bool {
        for index in 0..<8 { try StressCycle.run(kernel, index: index) }  // process-wide state created once
        let before = ProcessResources.current()
        let started = ContinuousClock.now
        for index in 0..<cycles {
            do {
                try StressCycle.run(kernel, index: index)
            } catch {
                print("cycle \(index) failed: \(error)")
                return false
            }
        }
        let elapsed = ContinuousClock.now - started
        let after = ProcessResources.current()
        let growth = after.residentBytes - before.residentBytes
        print("\(cycles) boot-run-destroy cycles (one in four failing on purpose) in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        print("  before: \(before)")
        print("  after:  \(after)")
        var ok = true
        if after.openDescriptors != before.openDescriptors { print("  LEAK: file descriptors"); ok = false }
        if after.mappings != before.mappings { print("  LEAK: memory mappings"); ok = false }
        if growth > residentSlackMiB << 20 { print("  LEAK: resident memory grew by \(growth >> 10) KiB"); ok = false }
        print(ok ? "  nothing leaked (resident memory moved \(growth >> 10) KiB)" : "  FAILED")
        return ok
    }

    private func soak(_ kernel: [UInt8]) -> Bool {
        let deadline = ContinuousClock.now + .seconds(soakSeconds)
        let counts = Mutex<[Int]>(Array(repeating: 0, count: threads))
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        let cpuBefore = ProcessInfo.processInfo.systemUptime
        let usageBefore = Self.cpuSeconds()
        for index in 0..<threads {
            done.enter()
            Thread {
                var cycle = 0
                while ContinuousClock.now < deadline {
                    defer { cycle += 1 }
                    do {
                        try StressCycle.run(kernel, index: cycle)
                        counts.withLock { $0[index] += 1 }
                    } catch {
                        failures.withLock { $0.append("thread \(index): \(error)") }
                        break
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        let wall = ProcessInfo.processInfo.systemUptime - cpuBefore
        let busy = (Self.cpuSeconds() - usageBefore) / wall
        let perThread = counts.withLock { $0 }
        print("soak: \(threads) threads for \(soakSeconds) s: \(perThread.reduce(0, +)) cycles (\(perThread.map(String.init).joined(separator: ", ")) by thread), "
              + "\(String(format: "%.2f", busy)) cores busy on average")
        let failed = failures.withLock { $0 }
        for failure in failed { print("  FAILED \(failure)") }
        if failed.isEmpty { print("  no failure") }
        return failed.isEmpty
    }

    /// User plus system CPU time this process has used (vCPU time counts as system).
    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

