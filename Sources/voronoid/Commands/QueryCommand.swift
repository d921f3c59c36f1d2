import ArgumentParser
import Clients
import Foundation
import Transport
import Wire

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the daemon's query socket for a snapshot, its stats, or predictions.",
        discussion: """
            Exit status: 0 on success, 1 when no reply arrives within --timeout (or on a local \
            error), 2 when the daemon answers with an error reply.
            """,
        subcommands: [Snapshot.self, Stats.self, Predict.self])

    struct Options: ParsableArguments {
        @Option(help: "The daemon's query (REP) endpoint.") var endpoint = "tcp://127.0.0.1:5557"
        @Option(help: "Seconds to wait for a reply.") var timeout: Double = 5
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var curve: CurveClientOptions

        func validate() throws {
            guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout: must be > 0, got \(timeout)") }
        }

        func client() throws -> QueryClient {
            QueryClient(context: try ZMQContext(), endpoint: endpoint, timeout: .milliseconds((timeout * 1000).rounded()),
                        curve: try curve.keys())
        }
    }

    struct Snapshot: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the current centers, counts, version and temperature.")
        @OptionGroup var options: Options

        func run() throws {
            try reportingErrors(options.endpoint) {
                let snapshot = try options.client().snapshot()
                writeOutput(options.json ? try TextFormat.centersJSON(snapshot) + "\n" : TextFormat.centersTable(snapshot))
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the daemon's statistics.")
        @OptionGroup var options: Options

        func run() throws {
            try reportingErrors(options.endpoint) {
                let stats = try options.client().stats()
                writeOutput(options.json ? stats.json + "\n" : TextFormat.statsTable(stats.values))
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each vector's best cluster, squared distance and responsibilities (no training).")
        @OptionGroup var options: Options
        @Option(help: "Read vectors from a CSV file ('-' for standard input).") var csv: String?
        // Unconditional, so a vector starting with a minus sign is not taken for an option.
        @Option(parsing: .unconditionalSingleValue, help: "A vector as comma-separated numbers (repeatable).") var vector: [String] = []

        /// Rows per request: well under the protocol's 65 536 and small enough for a quick reply.
        static let rowsPerRequest = 4096

        func validate() throws {
            if csv == nil && vector.isEmpty { throw ValidationError("give --csv PATH ('-' for standard input) or --vector 1,2,3") }
            if csv != nil && !vector.isEmpty { throw ValidationError("--csv and --vector: give one") }
        }

        func run() throws {
            try reportingErrors(options.endpoint) {
                let client = try options.client()
                if !options.json { writeOutput(TextFormat.predictionHeader) }
                var row = 0
                func send(_ batch: VectorBatch) throws {
                    let assignments = try client.predict(batch)
                    var text = ""
                    for i in 0..<assignments.count {
                        text += options.json
                            ? TextFormat.predictionJSON(row: row + i, assignments: assignments, index: i) + "\n"
                            : TextFormat.predictionLine(row: row + i, assignments: assignments, index: i)
                    }
                    writeOutput(text)
                    row += batch.count
                }
                if let csv {
                    var source = try CSVSource(path: csv)
                    var values: [Float] = []
                    while try source.next(into: &values, maxRows: Self.rowsPerRequest) > 0 {
                        try send(try batch(values, dimension: source.dimension))
                    }
                } else {
                    var rows: [[Float]] = []
                    for (i, text) in vector.enumerated() {
                        do throws(ClientError) {
                            rows.append(try CSVSource.parseVector(text))
                        } catch {
                            throw ClientError(.badInput, "--vector #\(i + 1): \(error.message)")
                        }
                    }
                    guard rows.allSatisfy({ $0.count == rows[0].count }) else {
                        throw ClientError(.badInput, "--vector: every vector needs the same dimension")
                    }
                    for start in stride(from: 0, to: rows.count, by: Self.rowsPerRequest) {
                        try send(try batch(Array(rows[start..<min(rows.count, start + Self.rowsPerRequest)].joined()), dimension: rows[0].count))
                    }
                }
            }
        }

        private func batch(_ values: [Float], dimension d: Int) throws -> VectorBatch {
            var batch = VectorBatch(reservingRows: values.count / d, dimension: d)
            for r in 0..<values.count / d {
                try batch.append(Array(values[r * d..<(r + 1) * d]), id: nil)
            }
            return batch
        }
    }
}

/// Runs a query, mapping failures to the documented exit statuses: 2 for an error reply
/// from the daemon, 1 for everything else (timeout, bad input, transport).
private func reportingErrors(_ endpoint: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ClientError {
        if let remote = error.remote {
            writeError("error: \(remote.reason): \(remote.detail)")
            throw ExitCode(2)
        }
        writeError("query: \(error)")
        throw ExitCode(1)
    } catch let error as ZMQError {
        writeError("query: \(endpoint): \(error)")
        throw ExitCode(1)
    } catch let error as WireError {
        writeError("query: \(error)")
        throw ExitCode(1)
    }
}
