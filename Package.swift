// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "KVMPagingHarness",
    products: [
        .executable(name: "kvmhost", targets: ["KVMHostCLI"]),
        .executable(name: "kvmbench", targets: ["KVMBench"]),
        .executable(name: "kvmstress", targets: ["Stress"]),
        .executable(name: "fuzz", targets: ["Fuzz"]),
        .library(name: "KVMHost", targets: ["KVMHost"]),
        .library(name: "GuestImage", targets: ["GuestImage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C shim over <linux/kvm.h>.
        .target(name: "CKVM"),
        // The report-channel records: the same source the guest kernel compiles.
        // Their coding (WireCoding.generated.swift) is written from their
        // declarations by WireCodeGenerator: scripts/generate-wire-coding.
        .target(name: "GuestProtocol", dependencies: ["MemoryManager", "MachineFacts"], path: "Sources/Guest/Protocol"),
        // The machine's facts (ports, statuses, addresses, sizes): one C header
        // that the host's Swift, the kernel's Swift, its assembly and its
        // linker script all include.
        .target(name: "MachineFacts", path: "Sources/Guest/Machine"),
        .executableTarget(name: "WireCodeGenerator"),
        // The guest's hardware-free memory manager, compiled natively so that
        // XCTest runs the same source the guest kernel runs.
        .target(name: "MemoryManager", dependencies: ["MachineFacts"], path: "Sources/Guest/Memory"),
        // The VMM: /dev/kvm, VM, vCPU, guest memory, PVH/ELF boot, port devices.
        .target(name: "KVMHost", dependencies: ["CKVM", "GuestProtocol", "MemoryManager"]),
        // guest.elf, built from Sources/Guest by the BuildGuest plugin. The
        // target's path covers the guest's sources so that SwiftPM notices a
        // guest file added or deleted; only Image/ is compiled for the host.
        .target(
            name: "GuestImage",
            path: "Sources/Guest",
            exclude: ["Kernel", "KernelTests", "Machine", "Memory", "Programs", "Protocol", "build-guest.sh"],
            sources: ["Image"],
            plugins: ["BuildGuest"]
        ),
        .plugin(name: "BuildGuest", capability: .buildTool()),
        // GuestKernelTests' methods, one per in-kernel test case, generated
        // from the kernel's test table.
        .plugin(name: "GuestTestMethods", capability: .buildTool()),
        // kvmhost's option values, parsed strictly; fuzzed as well.
        .target(name: "MachineArguments", dependencies: ["GuestProtocol"]),
        .executableTarget(
            name: "KVMHostCLI",
            dependencies: ["KVMHost", "GuestImage", "MachineArguments", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A seeded generator shared by the model tests and the benchmarks.
        .target(name: "SeededRandom", path: "Benchmarks/SeededRandom"),
        // Descriptors, mappings and resident memory of this process (/proc/self).
        .target(name: "ProcessResources", path: "Benchmarks/ProcessResources"),
        // Every benchmark, one table: swift run -c release kvmbench
        .executableTarget(
            name: "KVMBench",
            dependencies: ["CKVM", "KVMHost", "GuestImage", "MemoryManager", "GuestProtocol", "SeededRandom",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/KVMBench"
        ),
        // One boot-run-destroy cycle, ending well or failing on purpose.
        .target(name: "StressCycle", dependencies: ["KVMHost"], path: "Benchmarks/StressCycle"),
        .executableTarget(
            name: "Stress",
            dependencies: ["KVMHost", "GuestImage", "ProcessResources", "StressCycle", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Stress"
        ),
        // Fuzz targets for what reads guest-controlled bytes; scripts/fuzz runs
        // them under libFuzzer, and KVMHostTests replays corpus and regressions.
        .target(name: "FuzzTargets", dependencies: ["KVMHost", "GuestProtocol", "MachineArguments"], path: "Fuzz/FuzzTargets"),
        .executableTarget(name: "Fuzz", dependencies: ["FuzzTargets"], path: "Fuzz/Fuzz"),
        // Builders for test inputs (hand-made ELF images, tiny hostile guests).
        .target(name: "TestSupport", dependencies: ["KVMHost", "GuestImage", "GuestProtocol", "MemoryManager"], path: "Tests/TestSupport"),
        .testTarget(name: "MemoryManagerTests", dependencies: ["MemoryManager", "SeededRandom"]),
        .testTarget(name: "KVMHostTests", dependencies: ["KVMHost", "GuestProtocol", "MachineFacts", "TestSupport", "FuzzTargets", "SeededRandom"]),
        // Runs the real kvmhost binary: pipes, a pseudo-terminal, exit codes.
        .testTarget(name: "CLITests", dependencies: ["KVMHostCLI", "WireCodeGenerator", "Stress", "KVMHost", "GuestImage", "GuestProtocol", "TestSupport"]),
        // The test cases that run inside the guest kernel, one XCTest each.
        .testTarget(name: "GuestKernelTests", dependencies: ["KVMHost", "GuestImage", "TestSupport"],
                    plugins: ["GuestTestMethods"]),
        .testTarget(name: "LiveGuestTests",
                    dependencies: ["KVMHost", "GuestImage", "GuestProtocol", "MemoryManager", "TestSupport", "ProcessResources",
                                   "SeededRandom", "StressCycle"]),
    ]
)
