import Foundation

/// The date and machine a table was taken on, for its heading.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let memory = ProcessInfo.processInfo.physicalMemory >> 30
    let date = Date().formatted(.iso8601.year().month().day().dateSeparator(.dash))
    return "\(date), \(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory) GiB, Linux \(release)"
}
