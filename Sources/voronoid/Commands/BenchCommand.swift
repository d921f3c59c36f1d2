import ArgumentParser
import Clustering
import Daemon

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput.", subcommands: [Core.self])

    struct Core: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The clustering core: update step and entmax alone.")
        @Flag(help: "One JSON object per line instead of a table.") var json = false
        @Option(help: "Seconds of measurement per case.") var seconds: Double = 0.5
        @Option(help: "Thread counts to measure, comma-separated.") var threads: String = "1,2"
        @Option(help: "Only the cases named: update or entmax.") var only: String?

        func run() throws {
            let counts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 }
            guard !counts.isEmpty else { throw ValidationError("--threads: expected numbers ≥ 1, got \(threads)") }
            let bench = CoreBenchmark(seconds: seconds, threadCounts: counts, only: only)
            if !json {
                print(pad("bench", 8) + pad("mode", 10) + pad("d", 6) + pad("k", 6) + pad("batch", 7) + pad("threads", 9)
                      + pad("per second", 16) + "mean support")
            }
            bench.run { r in
                if json {
                    print(#"{"bench":"\#(r.bench)","mode":"\#(r.mode.rawValue)","d":\#(r.d),"k":\#(r.k),"batch":\#(r.batch),"threads":\#(r.threads),"\#(r.unit)":\#(Int(r.perSecond)),"mean_support":\#(r.meanSupport)}"#)
                } else {
                    print(pad(r.bench, 8) + pad(r.mode.rawValue, 10) + pad("\(r.d)", 6) + pad("\(r.k)", 6) + pad("\(r.batch)", 7)
                          + pad("\(r.threads)", 9) + pad(grouped(r.perSecond), 16) + String(format3(r.meanSupport)))
                }
            }
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func grouped(_ v: Double) -> String {
    let s = String(Int(v))
    var out = ""
    for (i, ch) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}
func format3(_ v: Double) -> String { String(Double(Int(v * 1000)) / 1000) }
