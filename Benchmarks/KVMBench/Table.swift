/// One line of kvmbench's table: a figure of this project next to the
/// baseline it was measured against in the same run.
struct Row {
    var measurement: String
    var figure: String
    var baseline: String
    var ratio: String
    var target: String = ""
    /// Whether the figure met `target`, when it has one.
    var met: Bool? = nil
}

/// Prints rows as a Markdown table, which reads in a terminal and pastes
/// into docs/benchmarks.md unchanged.
func printTable(_ rows: [Row]) {
    let header = ["measurement", "KVMHost harness", "baseline (same run)", "ratio", "target"]
    let cells = rows.map { row in
        [row.measurement, row.figure, row.baseline, row.ratio, row.target + (row.met.map { $0 ? ": met" : ": MISSED" } ?? "")]
    }
    let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max()! }
    func line(_ values: [String]) -> String {
        "| " + zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
    print(line(header))
    print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
    for row in cells { print(line(row)) }
}
