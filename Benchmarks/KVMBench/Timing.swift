import Foundation

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A duration in nanoseconds, in the unit that reads best.
func formatTime(_ nanoseconds: Double) -> String {
    switch nanoseconds {
    case ..<1_000: return String(format: "%.1f ns", nanoseconds)
    case ..<1_000_000: return String(format: "%.1f us", nanoseconds / 1e3)
    default: return String(format: "%.2f ms", nanoseconds / 1e6)
    }
}

func times(_ ratio: Double) -> String { String(format: "%.1fx", ratio) }
