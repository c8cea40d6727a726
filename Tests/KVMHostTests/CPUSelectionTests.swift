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

    func testAFeatureGivenAndTakenAwayIsRefusedBeforeAnythingIsBuilt() {
        var configuration = LiveGuest.Configuration()
        configuration.cpu = CPUSelection(enabled: [.smep], disabled: [.smep])
        XCTAssertThrowsError(try configuration.validate()) {
            XCTAssertEqual($0 as? LiveGuest.ConfigurationError, .cpu(.namedTwice(.smep)))
        }
    }
}
