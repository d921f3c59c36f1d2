import ArgumentParser
import Clients
import Foundation
import Transport
import Wire

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's live model, rates, gaps and events.",
        discussion: """
            Subscribes to centers.bin, heartbeat, events and assignments.bin. On a terminal the \
            view is redrawn in place every --interval seconds; otherwise (or with --plain) one \
            compact block is printed per interval. Each cluster's line shows its share and the \
            first coordinates of its center. When heartbeats stop for three heartbeat intervals \
            (at least 3 s) the view is marked STALE and shows no live rate. --once prints the \
            first centers snapshot and exits; --json prints one JSON line per centers snapshot.
            """)

    @Option(help: "The daemon's update (XPUB) endpoint.") var endpoint = "tcp://127.0.0.1:5556"
    @Option(help: "Seconds between redraws.") var interval: Double = 1
    @Flag(help: "Print a compact block per interval instead of redrawing the screen.") var plain = false
    @Flag(help: "Wait for the first centers snapshot, print it and exit.") var once = false
    @Option(help: "With --once: seconds to wait before giving up (exit 1).") var timeout: Double = 10
    @Flag(help: "One JSON line per centers snapshot instead of the view.") var json = false
    @Option(help: "Stop after this many seconds (no limit when omitted).") var seconds: Double?
    @Option(help: "How many recent events to show.") var events = 5
    @OptionGroup var curve: CurveClientOptions

    func validate() throws {
        guard interval.isFinite, interval > 0 else { throw ValidationError("--interval: must be > 0, got \(interval)") }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout: must be > 0, got \(timeout)") }
        if let seconds, !seconds.isFinite || seconds < 0 { throw ValidationError("--seconds: must be ≥ 0, got \(seconds)") }
        guard events >= 0 else { throw ValidationError("--events: must be ≥ 0, got \(events)") }
    }

    func run() throws {
        Interrupt.install()
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Double { let (s, a) = (clock.now - start).components; return Double(s) + Double(a) * 1e-18 }
        do {
            let context = try ZMQContext()
            let topics = once || json ? [WireTopic.centersBinary] : WatchMessage.topics
            let watcher = try Watcher(context: context, endpoint: endpoint, topics: topics, curve: try curve.keys())
            if once {
                try runOnce(watcher, elapsed: elapsed)
                return
            }
            let terminal = isatty(1) == 1 && !plain
            var state = WatchState(eventCapacity: events)
            var nextDraw = json ? Double.infinity : 0.0
            while !Interrupt.isRequested {
                let now = elapsed()
                if let seconds, now >= seconds { break }
                if now >= nextDraw {
                    state.sampleRates(now: now)
                    writeOutput(terminal
                        ? WatchView.clearScreen + WatchView.render(state, endpoint: endpoint, elapsed: now)
                        : WatchView.renderCompact(state, elapsed: now))
                    nextDraw = now + interval
                }
                // Short polls keep Ctrl-C and --seconds prompt.
                guard let message = try watcher.next(timeoutMilliseconds: 100) else { continue }
                if json {
                    if case .centers(let snapshot) = message { writeOutput(try TextFormat.centersJSON(snapshot) + "\n") }
                } else {
                    state.apply(message, now: elapsed())
                }
            }
        } catch let error as ZMQError {
            writeError("watch: \(endpoint): \(error)")
            throw ExitCode(1)
        } catch let error as WireError {
            writeError("watch: \(error)")
            throw ExitCode(1)
        } catch let error as ClientError {
            writeError("watch: \(error)")
            throw ExitCode(1)
        }
    }

    private func runOnce(_ watcher: Watcher, elapsed: () -> Double) throws {
        while !Interrupt.isRequested && elapsed() < timeout {
            let left = Int(((timeout - elapsed()) * 1000).rounded(.up))
            switch try watcher.next(timeoutMilliseconds: max(1, min(100, left))) {
            case .centers(let snapshot):
                writeOutput(json ? try TextFormat.centersJSON(snapshot) + "\n" : TextFormat.centersTable(snapshot))
                return
            case .undecodable(let topic, let error):
                writeError("watch: ignoring a malformed \(topic) message: \(error)")
            default:
                continue
            }
        }
        writeError("watch: no centers snapshot from \(endpoint) within \(timeout) s (is the daemon running and publishing there?)")
        throw ExitCode(1)
    }
}
