import GuestProtocol
import KVMHost
import MachineArguments
import XCTest

/// `--cpu` as typed, and what each backend is asked for.
final class CPUSelectionTests: XCTestCase {
    func testFeaturesAreParsedInQEMUsSpelling() throws {
        XCTAssertEqual(try MachineArguments.cpuFeatures("+smep,+smap"), CPUSelection(enabled: [.smep, .smap]))
        XCTAssertEqual(try MachineArguments.cpuFeatures("-nx"), CPUSelection(disabled: [.nx]))
        XCTAssertEqual(try MachineArguments.cpuFeatures("+pdpe1gb,-lm,+pcid"), CPUSelection(enabled: [.pdpe1gb, .pcid], disabled: [.lm]))
        let names = "(features: lm, nx, pdpe1gb, smep, smap, pcid)"
        let refused: [(String, String)] = [
            ("", "'' is not +FEATURE or -FEATURE \(names)"),
            ("nx", "'nx' is not +FEATURE or -FEATURE \(names)"),
            ("+nx,", "'' is not +FEATURE or -FEATURE \(names)"),
            ("+sse", "'sse' is not a feature kvmhost sets \(names)"),
            ("+NX", "'NX' is not a feature kvmhost sets \(names)"),
            ("+nx,-nx", "names nx more than once"),
            ("+smep,+smep", "names smep more than once"),
            (String(repeating: "+nx", count: 100), "is longer than 256 characters"),
        ]
        for (text, problem) in refused {
            XCTAssertThrowsError(try MachineArguments.cpuFeatures(text), text) {
                XCTAssertEqual("\($0)", "--cpu '\(text)' \(problem)")
            }
        }
    }

    /// `--smp N`: a plain decimal count of CPUs within range, as QEMU's
    /// -smp takes its first value; anything else is named.
    func testTheCPUCountIsAPlainCountInRange() throws {
        for count in 1...GuestCPUs.maximumCount { XCTAssertEqual(try MachineArguments.cpuCount("\(count)"), count) }
        XCTAssertEqual(try MachineArguments.cpuCount("0002"), 2, "leading zeros are the number's")
        XCTAssertEqual(try MachineArguments.cpuCount(String(repeating: "0", count: 50) + "8"), 8)
        let notACount = "is not a CPU count: a whole number from 1 to \(GuestCPUs.maximumCount)"
        let refused: [(String, String)] = [
            ("", notACount), ("two", notACount), ("+2", notACount), ("-1", notACount), ("2,cores=2", notACount),
            ("0x2", notACount), (" 2", notACount), ("1000", notACount), (String(repeating: "9", count: 40), notACount),
            ("00", "must lie between 1 and \(GuestCPUs.maximumCount) CPUs"),
            ("0", "must lie between 1 and \(GuestCPUs.maximumCount) CPUs"), ("9", "must lie between 1 and \(GuestCPUs.maximumCount) CPUs"),
            ("000", "must lie between 1 and \(GuestCPUs.maximumCount) CPUs"),
        ]
        for (text, problem) in refused {
            XCTAssertThrowsError(try MachineArguments.cpuCount(text), text) {
                XCTAssertEqual("\($0)", "--smp '\(text)' \(problem)")
            }
        }
    }

    func testAFeatureGivenAndTakenAwayIsRefusedBeforeAnythingIsBuilt() {
        var configuration = LiveGuest.Configuration()
        configuration.cpu = CPUSelection(enabled: [.smep], disabled: [.smep])
        XCTAssertThrowsError(try configuration.validate()) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .cpu(.namedTwice(.smep)))
        }
    }
}
