import ArgumentParser
import Benchmarks
import Clustering
import Daemon

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput.", subcommands: [Core.self, EndToEnd.self])

    struct Core: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The clustering core: update step and entmax alone.")
        @Flag(help: "One JSON object per line instead of a table.") var json = false
        @Option(help: "Seconds of measurement per case.") var seconds: Double = 0.5
        @Option(help: "Thread counts to measure, comma-separated.") var threads: String = "1,2"
        @Option(help: "Only the cases named: update, embedding, entmax or seeding.") var only: String?
        @Option(help: "How the update computes distances: automatic, direct or screened.") var distances: String = "automatic"
        @Option(help: "The screen's product: automatic (bfloat16 where the processor has it) or float32.") var products: String = "automatic"

        func run() throws {
            let counts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 }
            guard !counts.isEmpty else { throw ValidationError("--threads: expected numbers ≥ 1, got \(threads)") }
            guard let method = UpdateConfiguration.DistanceMethod(rawValue: distances) else {
                throw ValidationError("--distances: expected automatic, direct or screened, got \(distances)")
            }
            guard let precision = UpdateConfiguration.ProductPrecision(rawValue: products) else {
                throw ValidationError("--products: expected automatic or float32, got \(products)")
            }
            var bench = CoreBenchmark(seconds: seconds, threadCounts: counts, only: only)
            bench.distances = method
            bench.products = precision
            if !json {
                print("OpenBLAS kernels: \(VoronoidVersion.blasDescription)")
                print("screen's product: " + (precision == .automatic ? VoronoidVersion.screenProduct : "float32"))
                print(pad("bench", 12) + pad("mode", 10) + pad("d", 6) + pad("k", 6) + pad("batch", 7) + pad("threads", 9)
                      + pad("per second", 16) + "mean support")
            }
            var reference: Double?
            var oneRow: Double?
            var product: [String: Double] = [:]
            bench.run { r in
                if r.bench == "reference" { reference = r.perSecond }
                if r.bench == "entmax-row" { oneRow = r.perSecond }
                if r.bench == "sgemm" { product["\(r.d)x\(r.k)"] = r.perSecond }
                // Distance-product work per vector, for GFLOP/s and the share of sgemm's rate.
                let gflops = r.perSecond * 2 * Double(r.k) * Double(r.d) / 1e9
                // Against the sgemm timed in alternating rounds with this case where there is one.
                let ofProduct = r.bench == "update" || r.bench == "bf16"
                    ? (r.productPerSecond ?? product["\(r.d)x\(r.k)"]).map { r.perSecond / $0 } : nil
                let speedup = (r.bench == "update" && r.d == 64 && r.k == 64 && r.mode == .entmax15) ? reference.map { r.perSecond / $0 } : nil
                let overOneRow = r.bench == "entmax" ? oneRow.map { r.perSecond / $0 } : nil
                let sgemmNote = ofProduct.map { ", \(Int(($0 * 100).rounded())) % of sgemm, \(format3(gflops)) GFLOP/s" }
                    ?? (r.bench == "sgemm" ? ", \(format3(gflops)) GFLOP/s" : "")
                let exactNote: String = r.exactPerRow.map { ", \(format3($0)) direct per row" } ?? ""
                if json {
                    let ratio = (speedup.map { #","speedup_vs_reference":\#(format3($0))"# }
                        ?? overOneRow.map { #","speedup_vs_one_row":\#(format3($0))"# } ?? "")
                        + (ofProduct.map { #","fraction_of_sgemm":\#(format3($0))"# } ?? "")
                        + (r.d > 0 ? #","distance_gflops":\#(format3(gflops))"# : "")
                    let exact: String = r.exactPerRow.map { #","direct_distances_per_row":\#(format3($0))"# } ?? ""
                    print(#"{"bench":"\#(r.bench)","mode":"\#(r.mode.rawValue)","d":\#(r.d),"k":\#(r.k),"batch":\#(r.batch),"threads":\#(r.threads),"\#(r.unit)":\#(Int(r.perSecond)),"mean_support":\#(r.meanSupport)\#(ratio)\#(exact)}"#)
                } else {
                    print(pad(r.bench, 12) + pad(r.mode.rawValue, 10) + pad("\(r.d)", 6) + pad("\(r.k)", 6) + pad("\(r.batch)", 7)
                          + pad("\(r.threads)", 9) + pad(grouped(r.perSecond), 16) + pad(format3(r.meanSupport), 14)
                          + (speedup.map { "\(format3($0))× the reference" }
                             ?? overOneRow.map { "\(format3($0))× one row at a time" } ?? "")
                          + sgemmNote + exactNote)
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

extension Bench {
    struct EndToEnd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "e2e",
            abstract: "The whole daemon on loopback: producer, daemon and subscriber in one process (d 64, k 64, entmax15).")
        @Flag(help: "One JSON object per line instead of a table.") var json = false
        @Option(help: "Seconds of sending per case.") var seconds: Double = 3
        @Option(help: "Only the cases named: batched, single or latency.") var only: String?
        @Option(help: "input.max_wait_ms of the daemon under test.") var maxWaitMs = DaemonConfiguration().input.maxWaitMilliseconds

        func run() throws {
            let bench = EndToEndBenchmark(seconds: seconds, maxWaitMilliseconds: maxWaitMs)
            if !json {
                print(pad("case", 9) + pad("socket", 7) + pad("vec/msg", 8) + pad("offered/s", 11) + pad("vectors/s", 12)
                      + pad("messages/s", 12) + pad("dropped", 9) + pad("p50 ms", 8) + pad("p99 ms", 8) + "max ms")
            }
            try bench.run(only: only) { r in
                if json {
                    let offered = r.offeredRate.map { String(Int($0)) } ?? "null"
                    print(#"{"bench":"e2e","case":"\#(r.name)","socket":"\#(r.socket)","vectors_per_message":\#(r.vectorsPerMessage),"offered_vectors_per_second":\#(offered),"vectors_per_second":\#(Int(r.vectorsPerSecond)),"messages_per_second":\#(Int(r.messagesPerSecond)),"assigned_per_second":\#(Int(r.assignedPerSecond)),"sent":\#(r.sent),"accepted":\#(r.accepted),"dropped":\#(r.dropped),"latency_p50_ms":\#(format3(r.latencyP50Milliseconds)),"latency_p99_ms":\#(format3(r.latencyP99Milliseconds)),"latency_max_ms":\#(format3(r.latencyMaxMilliseconds))}"#)
                } else {
                    print(pad(r.name, 9) + pad(r.socket, 7) + pad("\(r.vectorsPerMessage)", 8)
                          + pad(r.offeredRate.map { grouped($0) } ?? "max", 11) + pad(grouped(r.vectorsPerSecond), 12)
                          + pad(grouped(r.messagesPerSecond), 12) + pad("\(r.dropped)", 9)
                          + pad(format3(r.latencyP50Milliseconds), 8) + pad(format3(r.latencyP99Milliseconds), 8)
                          + format3(r.latencyMaxMilliseconds))
                }
            }
        }
    }
}
