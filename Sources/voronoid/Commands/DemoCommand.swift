import ArgumentParser
import Clients
import Daemon
import Foundation
import Logging
import Transport
import Wire

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch voronoid learn: the daemon, a synthetic producer and the live view in one command.",
        discussion: """
            Starts the daemon on its default endpoints, a producer publishing Gaussian blobs \
            (optionally drifting), and the watch view. It prints the address of the live view \
            page (the daemon's metrics port, http://127.0.0.1:9464/ by default) to open in a \
            browser. While it runs, `voronoid watch` and `voronoid query stats` work from another \
            terminal. At the end it compares the learned centers with the ones that generated \
            the data.
            """)

    @Option(help: "Clusters in the data and centers in the model.") var k = 6
    @Option(help: "Vector dimension.") var dim = 2
    @Option(help: "Vectors per second.") var rate: Double = 20_000
    @Option(help: "How long to run, in seconds.") var seconds: Double = 20
    @Option(help: "Center drift per 1000 vectors (0: still).") var drift: Double = 0
    @Option(help: "Responsibilities: entmax15, softmax or hard.") var mode = "entmax15"
    @Option(help: "Seed of the data and the model.") var seed: UInt64 = 1
    @Flag(help: "Print a compact block per second instead of redrawing the screen.") var plain = false
    @Option(help: "host:port of the daemon's metrics port, which serves the live view page (\"\" turns it off).")
    var metrics = "127.0.0.1:9464"

    func validate() throws {
        guard k >= 1, dim >= 1 else { throw ValidationError("--k and --dim must be ≥ 1") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate: must be > 0, got \(rate)") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds: must be > 0, got \(seconds)") }
    }

    func run() throws {
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(file: nil, set: [
                "model.k=\(k)", "model.mode=\(mode)", "model.seed=\(seed)", "state.directory=\"\"",
                "output.centers_interval_ms=200", "metrics.address=\"\(metrics)\"",
            ])
        } catch {
            printError("voronoid demo: \(error)")
            throw ExitCode(ConfigurationError.exitStatus)
        }
        let logger = Logger(label: "voronoid", factory: { StderrLogHandler(label: $0, level: .warning) })
        let runner = try DaemonRunner(configuration: configuration, logger: logger)
        let ready = DispatchSemaphore(value: 0)
        let failure = Failure()
        Thread.detachNewThread {
            do {
                _ = try runner.run(handleSignals: false, onReady: { ready.signal() })
            } catch {
                failure.set("\(error)")
                ready.signal()
            }
        }
        ready.wait()
        if let message = failure.get() {
            printError("voronoid demo: cannot start the daemon: \(message) (is another voronoid running on the default ports?)")
            throw ExitCode(1)
        }
        Interrupt.install()
        let page = metrics.isEmpty ? nil : "live view  http://\(metrics)/  (open it in a browser)"
        // Written like the frames (unbuffered), so it comes first even when stdout is a pipe.
        if let page { FileHandle.standardOutput.write(Data((page + "\n").utf8)) }

        // The producer, on its own thread, at the chosen rate.
        let source = try SyntheticSource(k: k, dimension: dim, spread: 1, separation: 10, drift: drift, seed: seed)
        let truth = Truth(source.centers)
        let context = try ZMQContext()
        let seconds = self.seconds
        let rate = self.rate
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var source = source
            defer { done.signal() }
            let producer = Producer(configuration: ProducerConfiguration(rate: rate, duration: .milliseconds(Int64(seconds * 1000))))
            guard let socket = try? Producer.makeSocket(context: context, kind: .pub, endpoint: configuration.input.endpoints[0], bind: false) else { return }
            defer { socket.close() }
            _ = try? producer.run(source: &source, socket: socket, shouldStop: { Interrupt.isRequested })
            truth.set(source.centers)
        }

        // The view, on this thread.
        let watcher = try Watcher(context: context, endpoint: configuration.output.endpoint, topics: WatchMessage.topics)
        var state = WatchState(eventCapacity: 6)
        let terminal = isatty(1) == 1 && !plain
        let start = Date()
        var nextDraw = 0.0
        while !Interrupt.isRequested {
            let now = Date().timeIntervalSince(start)
            if now >= seconds + 1.5 { break }
            if now >= nextDraw {
                state.sampleRates(now: now)
                var text = terminal ? WatchView.clearScreen + WatchView.render(state, endpoint: configuration.output.endpoint, elapsed: now)
                                    : WatchView.renderCompact(state, elapsed: now)
                if let centers = state.centers {
                    text += "\n" + Self.comparison(centers, truth: truth.get(), dimension: dim) + "\n"
                }
                // A redraw clears the screen, so the page's address is part of every frame.
                if terminal, let page { text += page + "\n" }
                FileHandle.standardOutput.write(Data(text.utf8))
                nextDraw = now + 1
            }
            if let message = try watcher.next(timeoutMilliseconds: 100) { state.apply(message, now: Date().timeIntervalSince(start)) }
        }
        done.wait()
        runner.requestStop()
        if let centers = state.centers {
            print("\ndemo finished: \(Self.comparison(centers, truth: truth.get(), dimension: dim))")
        }
    }

    /// How far each generating center is from the nearest learned one.
    static func comparison(_ centers: CentersSnapshot, truth flat: [Float], dimension: Int) -> String {
        var worst: Float = 0
        var total: Float = 0
        let truth = stride(from: 0, to: flat.count, by: dimension).map { Array(flat[$0..<($0 + dimension)]) }
        for t in truth {
            let nearest = (0..<centers.k).map { j -> Float in
                var s: Float = 0
                for i in 0..<dimension { let e = centers.centers[j * dimension + i] - t[i]; s += e * e }
                return s.squareRoot()
            }.min() ?? .infinity
            worst = max(worst, nearest)
            total += nearest
        }
        let mean = total / Float(max(truth.count, 1))
        return "distance from each generating center to the nearest learned one: mean \(String(format: "%.3f", mean)), worst \(String(format: "%.3f", worst)) (cluster spread 1.0, separation 10)"
    }
}

/// Thread-safe boxes for the demo's hand-offs.
// SAFETY: every access holds `lock`.
private final class Failure: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func set(_ m: String) { lock.withLock { message = m } }
    func get() -> String? { lock.withLock { message } }
}

// SAFETY: every access holds `lock`.
private final class Truth: @unchecked Sendable {
    private let lock = NSLock()
    private var centers: [Float]
    init(_ c: [Float]) { centers = c }
    func set(_ c: [Float]) { lock.withLock { centers = c } }
    func get() -> [Float] { lock.withLock { centers } }
}
