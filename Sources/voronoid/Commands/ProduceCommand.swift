import ArgumentParser
import Clients
import Foundation
import Transport
import Wire

struct Produce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish vectors to the daemon (synthetic blobs, CSV or .npy).",
        discussion: """
            Sends on a PUB socket (the daemon's default SUB input) or, with --socket push, a \
            PUSH socket (the daemon's lossless PULL input). Messages a PUB sends before the \
            daemon's subscription arrives are lost, so its first message waits for that \
            subscription (the socket is an XPUB, which hears it), at most --warmup-ms.
            Ends after --count vectors, --seconds, the end of a file source (unless --loop), or \
            Ctrl-C, and prints a one-line summary to standard error.
            """)

    enum SocketKind: String, ExpressibleByArgument, CaseIterable { case pub, push }
    enum Format: String, ExpressibleByArgument, CaseIterable { case single, batch, json }
    enum IDs: String, ExpressibleByArgument, CaseIterable { case none, int, string }

    @Option(help: "Endpoint to connect to (or bind with --bind).") var endpoint = "tcp://127.0.0.1:5555"
    @Flag(help: "Bind the endpoint instead of connecting (for a daemon whose input connects).") var bind = false
    @Option(help: "Socket type: pub (daemon SUB) or push (daemon PULL).") var socket: SocketKind = .pub
    @Option(help: "Topic (frame 0) of every message.") var topic = "vectors"
    @Option(help: "Message form: single (one vector, no id or sequence), batch (binary) or json.") var format: Format = .batch
    @Option(help: "Most vectors per message for batch and json.") var batch = 256
    @Option(help: "Vectors per second; 0 sends as fast as possible.") var rate: Double = 0
    @Option(help: "Vectors to send; 0 for no limit.") var count = 0
    @Option(help: "Seconds to send for (no limit when omitted).") var seconds: Double?
    @Option(help: "Ids: none, int (running index) or string (running index as text). Default int; none for --format single.") var ids: IDs?
    @Flag(inversion: .prefixedNo, help: "Per-message sequence numbers starting at 1 (batch and json).") var sequence = true
    @Option(name: .customLong("warmup-ms"), help: "Longest a PUB waits for the daemon's subscription before sending (slow joiner); it sends as soon as the subscription arrives.") var warmupMilliseconds = 2000

    @Flag(help: "Gaussian blobs (the default source).") var synthetic = false
    @Option(help: "Synthetic: number of clusters.") var k = 8
    @Option(help: "Synthetic: dimension.") var dim = 16
    @Option(help: "Synthetic: per-component standard deviation around a center.") var spread: Double = 1.0
    @Option(help: "Synthetic: expected distance between centers.") var separation: Double = 10
    @Option(help: "Synthetic: center movement per 1000 vectors.") var drift: Double = 0
    @Option(help: "Synthetic: random seed.") var seed: UInt64 = 1
    @Option(help: "Read vectors from a CSV file ('-' for standard input).") var csv: String?
    @Option(help: "Read vectors from a NumPy .npy file ('<f4' or '<f8', (n, d) or (d,)).") var npy: String?
    @Flag(help: "Repeat a file source from the start when it ends.") var loop = false
    @OptionGroup var curve: CurveClientOptions

    func validate() throws {
        if csv != nil && npy != nil { throw ValidationError("--csv and --npy: give one source") }
        if synthetic && (csv != nil || npy != nil) { throw ValidationError("--synthetic cannot be combined with --csv or --npy") }
        if loop && csv == "-" { throw ValidationError("--loop: standard input cannot be repeated") }
        if format == .single, let ids, ids != .none { throw ValidationError("--ids \(ids.rawValue): the single form carries no ids") }
        if let seconds, !(seconds >= 0) || !seconds.isFinite { throw ValidationError("--seconds: must be ≥ 0, got \(seconds)") }
        if warmupMilliseconds < 0 { throw ValidationError("--warmup-ms: must be ≥ 0, got \(warmupMilliseconds)") }
        if bind && curve.enabled {
            throw ValidationError("--bind with --curve-server-key: CURVE protects the daemon's bound input; a daemon whose input connects does not use it")
        }
        do {
            try producerConfiguration().validate()
        } catch {
            throw ValidationError("--" + error.message)
        }
    }

    func producerConfiguration() -> ProducerConfiguration {
        let wireFormat: VectorMessageFormat = format == .single ? .single : format == .json ? .json : .batch
        let idMode: ProducerIDMode = switch ids ?? (format == .single ? IDs.none : IDs.int) {
        case .none: .none
        case .int: .int
        case .string: .string
        }
        return ProducerConfiguration(
            topic: topic, format: wireFormat, batchSize: batch, rate: rate, count: count,
            duration: seconds.map { Duration.milliseconds(($0 * 1000).rounded()) }, ids: idMode,
            sequence: sequence, warmup: .milliseconds(warmupMilliseconds), loop: loop)
    }

    func run() throws {
        Interrupt.install()
        let producer = Producer(configuration: producerConfiguration())
        let report: ProducerReport
        do {
            let context = try ZMQContext()
            let kind: ProducerSocketKind = socket == .push ? .push : .pub
            let keys = try curve.keys()
            // With CURVE, watch the handshakes: a daemon that refuses this key must be reported
            // as a refusal, not as vectors sent.
            let monitorName = "voronoid.produce.handshakes"
            let zsocket = try Producer.makeSocket(context: context, kind: kind, endpoint: endpoint, bind: bind,
                                                  curve: keys, monitor: keys == nil ? nil : monitorName)
            let monitor = try keys.map { _ throws(ZMQError) in
                let pair = try ZMQSocket(context: context, type: .pair, linger: 0)
                try pair.connect("inproc://" + monitorName)
                return pair
            }
            defer {
                monitor?.close()
                zsocket.close()
            }
            if let csv {
                var source = try CSVSource(path: csv)
                report = try producer.run(source: &source, socket: zsocket) { Interrupt.isRequested }
            } else if let npy {
                var source = try NPYSource(path: npy)
                report = try producer.run(source: &source, socket: zsocket) { Interrupt.isRequested }
            } else {
                var source = try SyntheticSource(k: k, dimension: dim, spread: spread, separation: separation, drift: drift, seed: seed)
                report = try producer.run(source: &source, socket: zsocket) { Interrupt.isRequested }
            }
            if let monitor {
                var tally = ZMQHandshakeTally()
                // The handshake may still be under way for a short run: give it a moment.
                let deadline = ContinuousClock.now + .seconds(2)
                while tally.succeeded == 0 && ContinuousClock.now < deadline {
                    if let frames = try monitor.receiveMultipart(dontWait: true) {
                        tally.record(frames: frames)
                    } else if !tally.failures.isEmpty && tally.succeeded == 0 && report.vectors > 0 {
                        break
                    } else {
                        Thread.sleep(forTimeInterval: 0.02)
                    }
                }
                if tally.refused, let last = tally.failures.last {
                    writeError("produce: \(endpoint): the daemon refused this client (\(last)); no vector was delivered. Check that --curve-key's public key is in the daemon's allowed_clients_file and that --curve-server-key is the daemon's public key")
                    throw ExitCode(1)
                }
            }
        } catch let error as ClientError {
            let name = csv == "-" ? "standard input" : csv ?? npy ?? "synthetic source"
            writeError("produce: \(error.line == nil ? "" : name + " ")\(error)")
            throw ExitCode(1)
        } catch let error as ZMQError {
            writeError("produce: \(endpoint): \(error)")
            throw ExitCode(1)
        }
        writeError("produce: \(report)")
    }
}

/// Writes one line to standard error, unbuffered.
func writeError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes text to standard output at once (unbuffered, so a pipe sees every block as it is made).
func writeOutput(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
