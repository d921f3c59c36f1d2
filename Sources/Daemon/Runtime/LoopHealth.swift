import Logging
import Synchronization

/// The liveness of every loop of the daemon, in one place: each loop stamps a heartbeat as it
/// goes round, says when it is busy with slow work it is allowed to do (a checkpoint's `fsync`),
/// and records a failure instead of ending quietly. `/healthz`, the systemd watchdog and the
/// supervisor all read it.
///
/// The rule the supervisor applies (README, "Health"): a loop that *failed* stops the daemon
/// with exit status 1 (the unit's `Restart=on-failure` starts it again, restoring the newest
/// checkpoint); a loop that *stalls* (no heartbeat for longer than the limit) makes `/healthz`
/// answer 503 and stops the watchdog pings, so systemd restarts a daemon that cannot stop itself.
final class LoopHealth: Sendable {
    /// The daemon's loops, in start-up order.
    enum Loop: String, CaseIterable, Sendable {
        case zap, publish, query, checkpoint, clustering, ingest, metrics, cluster
    }

    private struct Entry {
        var registered = false
        var failure: String?
        var busySince: UInt64 = 0
    }

    /// A heartbeat stamp (monotonic milliseconds); a class so the stamps can sit in an array.
    private final class Stamp: Sendable {
        let value = Atomic<UInt64>(0)
        func store(_ v: UInt64) { value.store(v, ordering: .relaxed) }
        func load() -> UInt64 { value.load(ordering: .relaxed) }
    }

    private let beats: [Stamp]
    private let entries = Mutex<[Entry]>(Array(repeating: Entry(), count: Loop.allCases.count))
    private let logger: Logger
    /// How long slow work may hold a loop before it counts as stalled.
    let busyLimitMilliseconds: UInt64

    init(logger: Logger, busyLimitMilliseconds: UInt64 = 120_000) {
        beats = Loop.allCases.map { _ in Stamp() }
        self.logger = logger
        self.busyLimitMilliseconds = busyLimitMilliseconds
    }

    /// The loop's slot: a switch, not a search of `allCases`, because `beat` runs after every
    /// batch and must neither build an array nor search one.
    private func index(_ loop: Loop) -> Int {
        switch loop {
        case .zap: 0
        case .publish: 1
        case .query: 2
        case .checkpoint: 3
        case .clustering: 4
        case .ingest: 5
        case .metrics: 6
        case .cluster: 7
        }
    }

    /// Starts watching `loop` (its thread was started).
    func register(_ loop: Loop) {
        beats[index(loop)].store(Clock.monotonicMilliseconds())
        entries.withLock { $0[index(loop)].registered = true }
    }

    /// The loop went round.
    @inline(__always)
    func beat(_ loop: Loop) {
        beats[index(loop)].store(Clock.monotonicMilliseconds())
    }

    /// The loop starts (true) or ends (false) slow work it is allowed to do.
    func busy(_ loop: Loop, _ busy: Bool) {
        let now = Clock.monotonicMilliseconds()
        entries.withLock { $0[index(loop)].busySince = busy ? now : 0 }
        beats[index(loop)].store(now)
    }

    /// Records that `loop` failed and why, and logs it (once per loop: the first reason stays).
    func fail(_ loop: Loop, _ reason: String) {
        let first = entries.withLock { e -> Bool in
            guard e[index(loop)].failure == nil else { return false }
            e[index(loop)].failure = reason
            return true
        }
        if first { logger.critical("\(loop.rawValue) loop failed: \(reason)") }
    }

    /// The first loop that failed, with its reason.
    var failure: (loop: Loop, reason: String)? {
        entries.withLock { e in
            for loop in Loop.allCases { if let r = e[index(loop)].failure { return (loop, r) } }
            return nil
        }
    }

    /// One line per watched loop and whether all are well: none failed, none went without a
    /// heartbeat for more than `maxStallMilliseconds` (slow work allowed up to the busy limit).
    func report(now: UInt64, maxStallMilliseconds: UInt64) -> (healthy: Bool, lines: [String]) {
        let snapshot = entries.withLock { $0 }
        var healthy = true
        var lines: [String] = []
        for loop in Loop.allCases {
            let e = snapshot[index(loop)]
            guard e.registered else { continue }
            let quiet = now &- beats[index(loop)].load()
            let line: String
            if let failure = e.failure {
                line = "failed: \(failure)"
                healthy = false
            } else if e.busySince != 0 {
                let busy = now &- e.busySince
                if busy > busyLimitMilliseconds {
                    line = "stalled: busy for \(busy / 1000) s"
                    healthy = false
                } else {
                    line = "ok (busy for \(busy) ms)"
                }
            } else if quiet > maxStallMilliseconds {
                line = "stalled: no progress for \(quiet / 1000) s"
                healthy = false
            } else {
                line = "ok"
            }
            lines.append("\(loop.rawValue): \(line)")
        }
        return (healthy, lines)
    }
}
