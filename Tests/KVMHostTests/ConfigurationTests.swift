import GuestProtocol
import KVMHost
import TestSupport
import XCTest

/// Every configuration value is checked in one place, before anything is
/// built from it, with a typed error; none traps.
final class ConfigurationTests: XCTestCase {
    let kernel = ELFBuilder.guest(code: [0xF4]).build()

    private func refusal(_ configuration: LiveGuest.Configuration) -> LiveGuest.ConfigurationError? {
        do {
            _ = try LiveGuest(kernel: kernel, configuration: configuration)
            return nil
        } catch {
            return error as? LiveGuest.ConfigurationError
        }
    }

    func testBadValuesAreRefusedBeforeAnythingIsBuilt() {
        let cases: [(LiveGuest.Configuration, LiveGuest.ConfigurationError)] = [
            (.init(memorySize: -1), .memorySizeOutOfRange(bytes: -1)),
            (.init(memorySize: Int.min), .memorySizeOutOfRange(bytes: Int.min)),
            (.init(memorySize: Int.max), .memorySizeOutOfRange(bytes: Int.max)),
            (.init(memorySize: (4 << 20) + 1), .memorySizeNotWholePages(bytes: (4 << 20) + 1)),
            (.init(reportLimit: .max), .reportLimitOutOfRange(.max)),
            (.init(reportLimit: 0), .reportLimitOutOfRange(0)),
        ]
        for (configuration, expected) in cases {
            XCTAssertEqual(refusal(configuration), expected)
        }
        // Set after init: checked all the same.
        for limit in [0, -1, Int.min, LiveGuest.Configuration.maximumReportLimit + 1] {
            var configuration = LiveGuest.Configuration()
            configuration.reportLimit = limit
            XCTAssertEqual(refusal(configuration), .reportLimitOutOfRange(limit))
        }
        var negative = LiveGuest.Configuration()
        negative.memorySize = -4096
        XCTAssertEqual(refusal(negative), .memorySizeOutOfRange(bytes: -4096))
        for cpus in [0, -1, Int.min, GuestCPUs.maximumCount + 1, Int.max] {
            var configuration = LiveGuest.Configuration()
            configuration.cpuCount = cpus
            XCTAssertEqual(refusal(configuration), .cpuCountOutOfRange(cpus))
        }
    }

    /// Several CPUs start in a page of RAM at 0x8000 and find their local
    /// APICs at 0xFEE00000: a layout without the one, or with RAM over the
    /// other, is refused before anything is built; one CPU needs neither.
    func testSeveralCPUsNeedTheStartUpPageAndTheLocalAPICsPage() {
        var noStartupPage = LiveGuest.Configuration(ram: [0..<0x8000, 0x10_0000..<0x100_0000])
        noStartupPage.cpuCount = 2
        XCTAssertEqual(refusal(noStartupPage), .startupPageNotRAM)
        var reserved = LiveGuest.Configuration(memoryHoles: [0x8000..<0x9000])
        reserved.cpuCount = 2
        XCTAssertEqual(refusal(reserved), .startupPageNotRAM)
        var overAPIC = LiveGuest.Configuration(ram: [0..<0x1_0000_0000])
        overAPIC.cpuCount = 2
        XCTAssertEqual(refusal(overAPIC), .ramOverLocalAPIC)
        for var configuration in [noStartupPage, reserved, overAPIC] {
            configuration.cpuCount = 1
            XCTAssertNotEqual(refusal(configuration), .startupPageNotRAM)
            XCTAssertNotEqual(refusal(configuration), .ramOverLocalAPIC)
        }
    }

    /// KVMHOST_SMP: a plain count of CPUs within range, or an error naming it.
    func testTheCPUCountVariableTakesAPlainCountInRange() {
        XCTAssertEqual(try KVMHostEnvironment.defaultCPUCount([:]), 1)
        for count in 1...GuestCPUs.maximumCount {
            XCTAssertEqual(try KVMHostEnvironment.defaultCPUCount([KVMHostEnvironment.cpuCount: "\(count)"]), count)
        }
        XCTAssertEqual(try KVMHostEnvironment.defaultCPUCount([KVMHostEnvironment.cpuCount: "0002"]), 2)
        for value in ["", "0", "000", "9", "-1", "+2", " 2", "2 ", "0x2", "two", "1000", "99999999999999999999", "2\u{0}"] {
            XCTAssertThrowsError(try KVMHostEnvironment.defaultCPUCount([KVMHostEnvironment.cpuCount: value]), value) {
                XCTAssertEqual($0 as? EnvironmentError,
                               EnvironmentError(variable: "KVMHOST_SMP", value: value, expected: "a CPU count, 1 to \(GuestCPUs.maximumCount)"))
            }
            XCTAssertThrowsError(try KVMHostEnvironment.check([KVMHostEnvironment.cpuCount: value]), value)
        }
    }

    func testTheLargestReportLimitWorks() throws {
        try requireKVM()
        var code = Code32()
        code.exit(9)
        let guest = try LiveGuest(kernel: ELFBuilder.guest(code: code.bytes).build(),
                                  configuration: .init(memorySize: 4 << 20, reportLimit: LiveGuest.Configuration.maximumReportLimit))
        XCTAssertEqual(try guest.runToExit(), 9)
    }
}
