import Glibc
import Logging
import Synchronization
import Transport

/// Prometheus metrics, `/healthz`, `/readyz` and the live view (`/` and `/model.json`) over a
/// tiny read-only HTTP/1.1 server on its own thread.
///
/// Scrapes are rare and small, so one connection is served at a time with short timeouts; a
/// slow or hostile client can delay a scrape but never the pipeline. Only GET and HEAD are
/// answered: nothing here changes the daemon.
final class MetricsServer: DaemonService, StoppedByEventFD {
    let statistics: Statistics
    let shared: SharedModel
    let stop: EventFD
    let logger: Logger
    let isReady: @Sendable () -> Bool
    let health: @Sendable () -> (healthy: Bool, lines: [String])
    let address: String
    let loops: LoopHealth
    let fault: DaemonConfiguration.Fault
    // SAFETY: set by start() and read by run(), both on the server's own thread, never elsewhere.
    nonisolated(unsafe) private var listener: Int32 = -1
    /// The model's course for the live view, sampled by this thread.
    let history = LiveHistory()
    let projections = ProjectionCache()

    init(address: String, statistics: Statistics, shared: SharedModel, stop: EventFD, loops: LoopHealth,
         fault: DaemonConfiguration.Fault, logger: Logger,
         isReady: @escaping @Sendable () -> Bool, health: @escaping @Sendable () -> (healthy: Bool, lines: [String])) {
        self.address = address
        self.statistics = statistics
        self.shared = shared
        self.stop = stop
        self.loops = loops
        self.fault = fault
        self.logger = logger
        self.isReady = isReady
        self.health = health
    }

    /// Binds the listening socket.
    func start() throws(StartupFailure) {
        func failure(_ kind: StartupFailure.Kind, _ reason: String) -> StartupFailure {
            StartupFailure(loop: LoopHealth.Loop.metrics.rawValue, what: "metrics.address \(address)", kind: kind, reason: reason)
        }
        guard let address = HTTPAddress(address) else { throw failure(.configuration, "cannot parse it as host:port") }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure(.system, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32
        if address.family == AF_INET6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = address.port.bigEndian
            inet_pton(AF_INET6, address.host, &sa.sin6_addr)
            bound = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = address.port.bigEndian
            inet_pton(AF_INET, address.host, &sa.sin_addr)
            bound = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw failure(code == EADDRINUSE ? .addressInUse : code == EADDRNOTAVAIL ? .configuration : .system,
                          String(cString: strerror(code)))
        }
        listener = fd
    }

    var loop: LoopHealth.Loop { .metrics }

    func run() {
        guard listener >= 0 else { return }
        defer { close(listener) }
        let started = Clock.monotonicMilliseconds()
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stop.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        while true {
            loops.beat(.metrics)
            history.sampleIfDue(now: Clock.monotonicMilliseconds(), statistics: statistics)
            if fault.failureDue("metrics", started: started, now: Clock.monotonicMilliseconds()) {
                return loops.fail(.metrics, "poll: injected fault (fault.fail_loop)")
            }
            fds[0].revents = 0
            fds[1].revents = 0
            let n = poll(&fds, 2, 1000)
            if n < 0 && errno != EINTR { return loops.fail(.metrics, "poll: \(String(cString: strerror(errno)))") }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            serve(client)
            close(client)
        }
    }

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 8192)
        var filled = 0
        // Read until the end of the request head (or 8 KiB, or the timeout).
        while filled < buffer.count {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            if got <= 0 { break }
            filled += got
            if buffer[0..<filled].firstRange(of: [13, 10, 13, 10]) != nil { break }
        }
        let head = String(decoding: buffer[0..<filled], as: UTF8.self)
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2 else { return respond(fd, 400, "bad request\n") }
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            return respond(fd, 405, "only GET and HEAD\n", extraHeaders: "Allow: GET, HEAD\r\n")
        }
        let headOnly = parts[0] == "HEAD"
        let path = parts[1].split(separator: "?").first.map(String.init) ?? "/"
        switch path {
        case "/metrics":
            respond(fd, 200, exposition(), type: "text/plain; version=0.0.4; charset=utf-8", headOnly: headOnly)
        case "/healthz":
            // One line per loop, so an operator sees which one failed or stalled and why.
            let report = health()
            let body = (report.healthy ? "ok\n" : "unhealthy\n") + report.lines.joined(separator: "\n") + "\n"
            respond(fd, report.healthy ? 200 : 503, body, headOnly: headOnly)
        case "/readyz":
            let snap = shared.snapshot
            if !isReady() {
                respond(fd, 503, "starting\n", headOnly: headOnly)
            } else if snap.state == nil {
                respond(fd, 200, "ready (warming up: \(snap.warmupCollected) of \(snap.warmupNeeded) vectors)\n", headOnly: headOnly)
            } else {
                respond(fd, 200, "ready\n", headOnly: headOnly)
            }
        case "/", "/index.html":
            // The page holds its script and style inline and may fetch only from this origin.
            respond(fd, 200, LiveViewPage.html, type: "text/html; charset=utf-8", headOnly: headOnly,
                    extraHeaders: "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                        + "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                        + "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n")
        case "/model.json":
            respond(fd, 200, modelJSON(), type: "application/json", headOnly: headOnly,
                    extraHeaders: "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n")
        default:
            respond(fd, 404, "not found: try /, /model.json, /metrics, /healthz or /readyz\n", headOnly: headOnly)
        }
    }

    /// The live view's snapshot: counters, quality, the model and its projection, history and
    /// recent events.
    func modelJSON() -> String {
        let snap = shared.snapshot
        return LiveViewSnapshot(
            timeUnixMilliseconds: Clock.unixMilliseconds(), ready: isReady(), health: health(), model: snap,
            projection: snap.state.map { projections.projection(of: $0) }, statistics: statistics,
            history: history.samples, historyIntervalMilliseconds: history.intervalMilliseconds,
            events: statistics.recentEvents.entries
        ).json()
    }

    private func respond(_ fd: Int32, _ status: Int, _ body: String, type: String = "text/plain; charset=utf-8", headOnly: Bool = false,
                         extraHeaders: String = "") {
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][status] ?? "Error"
        var out = Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)Connection: close\r\n\r\n".utf8)
        if !headOnly { out += Array(body.utf8) }
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// The Prometheus text exposition format.
    func exposition() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP voronoid_\(name) \(help)\n# TYPE voronoid_\(name) \(type)\n"
            for (labels, value) in samples {
                out += "voronoid_\(name)\(labels) \(Self.format(value))\n"
            }
        }
        metric("build_info", "gauge",
               "This build's release version, wire protocol, checkpoint format, OpenBLAS kernel family and the screen's product precision on this processor (softmax mode keeps float32) (always 1).",
               [("{version=\"\(VoronoidVersion.semantic)\",protocol=\"\(VoronoidVersion.wireProtocol)\",checkpoint_format=\"\(VoronoidVersion.checkpointFormat)\",blas=\"\(Self.escapeLabel(VoronoidVersion.blas.core))\",product=\"\(VoronoidVersion.screenProduct)\"}", 1)])
        let s = statistics
        let q = s.currentQuality
        let snap = shared.snapshot
        metric("vectors_received_total", "counter", "Vectors decoded from valid messages.", [("", Double(s.vectorsIn.load(ordering: .relaxed)))])
        metric("vectors_accepted_total", "counter", "Vectors applied to the model.", [("", Double(s.vectorsAccepted.load(ordering: .relaxed)))])
        metric("messages_received_total", "counter", "Valid inbound messages.", [("", Double(s.messagesIn.load(ordering: .relaxed)))])
        let drops = s.dropsByReason.sorted { $0.key < $1.key }
        metric("dropped_total", "counter", "Inbound messages dropped, by reason.",
               drops.map { (Self.labels(reason: $0.key), Double($0.value)) })
        let droppedVectors = s.droppedVectorsByReason.sorted { $0.key < $1.key }
        metric("dropped_vectors_total", "counter",
               "Decoded vectors in dropped messages (queue_full, shutdown, dimension_mismatch), by reason.",
               droppedVectors.map { (Self.labels(reason: $0.key), Double($0.value)) })
        metric("sequence_gaps_total", "counter", "Messages missing according to producers' sequence numbers.", [("", Double(s.sequenceGaps.load(ordering: .relaxed)))])
        metric("batches_total", "counter", "Mini-batches applied.", [("", Double(s.batches.load(ordering: .relaxed)))])
        var buckets: [(String, Double)] = []
        for (i, bound) in Statistics.batchBuckets.enumerated() {
            buckets.append(("_bucket{le=\"\(bound)\"}", Double(q.batchDurationBuckets[i])))
        }
        buckets.append(("_bucket{le=\"+Inf\"}", Double(q.batchDurationCount)))
        buckets.append(("_sum", q.batchDurationSum))
        buckets.append(("_count", Double(q.batchDurationCount)))
        out += "# HELP voronoid_batch_duration_seconds Time the core took per mini-batch.\n# TYPE voronoid_batch_duration_seconds histogram\n"
        for (suffix, v) in buckets { out += "voronoid_batch_duration_seconds\(suffix) \(Self.format(v))\n" }
        metric("temperature", "gauge", "Temperature of the last batch (squared-distance units).", [("", s.temperature)])
        metric("mean_support_size", "gauge", "Mean number of centers with non-zero responsibility, last batch.", [("", q.meanSupportSize)])
        metric("one_hot_fraction", "gauge", "Fraction of one-hot rows, last batch.", [("", q.oneHotFraction)])
        metric("inertia_per_vector", "gauge", "Moving average of the squared distance to the nearest center.", [("", q.inertiaPerVector)])
        metric("model_version", "gauge", "Batches applied to the model.", [("", Double(s.modelVersion.load(ordering: .relaxed)))])
        if let state = snap.state {
            metric("cluster_soft_count", "gauge", "Forgotten soft count of each center.",
                   state.counts.enumerated().map { ("{center=\"\($0.offset)\"}", $0.element) })
            metric("reseeds_total", "counter", "Dead centers re-seeded.", [("", Double(state.reseeds))])
        }
        let events = s.eventsByName.sorted { $0.key < $1.key }
        metric("events_total", "counter", "Events published on the events topic, by event (drift, reheat, birth, death, split, merge, …).",
               events.map { ("{event=\"\($0.key)\"}", Double($0.value)) })
        metric("warmup_vectors", "gauge", "Vectors gathered for seeding (until the model exists).", [("", Double(snap.warmupCollected))])
        let last = s.lastCheckpointUnixMilliseconds.load(ordering: .relaxed)
        metric("checkpoint_age_seconds", "gauge", "Seconds since the last checkpoint was written (-1: none yet).",
               [("", last == 0 ? -1 : max(0, Double(Clock.unixMilliseconds()) / 1000 - Double(last) / 1000))])
        metric("checkpoints_written_total", "counter", "Checkpoints written.", [("", Double(s.checkpointsWritten.load(ordering: .relaxed)))])
        metric("checkpoint_failures_total", "counter", "Checkpoints that failed (full disk, unwritable directory).", [("", Double(s.checkpointFailures.load(ordering: .relaxed)))])
        metric("subscriptions", "gauge", "Subscriptions on the outbound socket (one subscriber may hold several).", [("", Double(s.subscriptions.load(ordering: .relaxed)))])
        metric("published_total", "counter", "Outbound messages sent.", [("", Double(s.published.load(ordering: .relaxed)))])
        metric("publish_dropped_total", "counter", "Outbound messages dropped because the publish queue was full (a slow subscriber loses only its own copies, and sees the gap in seq).", [("", Double(s.publishDropped.load(ordering: .relaxed)))])
        metric("assignments_unwatched_total", "counter", "Batches whose assignments were not encoded because no subscription covered assignments.bin or assignments.json.", [("", Double(s.assignmentsUnwatched.load(ordering: .relaxed)))])
        metric("input_high_water_mark", "gauge", "Messages libzmq may hold per producer on the inbound socket (with PULL input it follows input.buffer_bytes and the size of the messages).", [("", Double(s.inputHighWaterMark.load(ordering: .relaxed)))])
        metric("queries_total", "counter", "Queries answered.", [("", Double(s.queries.load(ordering: .relaxed)))])
        metric("query_send_failures_total", "counter", "Query replies that failed to send (the query socket is then opened anew).", [("", Double(s.querySendFailures.load(ordering: .relaxed)))])
        metric("encode_failures_total", "counter", "Outbound messages that could not be encoded and were not sent.", [("", Double(s.encodeFailures.load(ordering: .relaxed)))])
        metric("checkpoints_skipped_total", "counter", "Model snapshots the checkpoint writer skipped because a newer one arrived first (a slow disk).", [("", Double(s.checkpointsSkipped.load(ordering: .relaxed)))])
        metric("authentications_total", "counter", "CURVE clients checked by the ZAP handler, by outcome.",
               [("{outcome=\"allowed\"}", Double(s.authenticationsAllowed.load(ordering: .relaxed))),
                ("{outcome=\"denied\"}", Double(s.authenticationsDenied.load(ordering: .relaxed)))])
        metric("handshake_failures_total", "counter", "Security handshakes that failed on CURVE sockets (libzmq's socket monitor).", [("", Double(s.handshakeFailures.load(ordering: .relaxed)))])
        metric("cluster_role", "gauge", "This daemon's cluster.role (always 1).", [("{role=\"\(s.cluster.role.rawValue)\"}", 1)])
        var described = Set<String>()
        for r in s.cluster.readings(now: Clock.monotonicMilliseconds()) {
            // Per-worker readings share one HELP and TYPE, with the worker as a label.
            if described.insert(r.name).inserted {
                out += "# HELP voronoid_cluster_\(r.name) \(r.help)\n# TYPE voronoid_cluster_\(r.name) \(r.type)\n"
            }
            out += "voronoid_cluster_\(r.name)\(r.worker.map { "{worker=\"\($0)\"}" } ?? "") \(Self.format(r.value))\n"
        }
        let producers = s.vectorsByProducer.sorted { $0.key < $1.key }
        if !producers.isEmpty {
            metric("producer_vectors_total", "counter", "Vectors received per authenticated producer (CURVE key name).",
                   producers.map { ("{producer=\"\(Self.escapeLabel($0.key))\"}", Double($0.value)) })
        }
        return out
    }

    private static func labels(reason: String) -> String { "{reason=\"\(escapeLabel(reason))\"}" }

    /// A label value as the text exposition format requires: backslash, double quote and line
    /// feed escaped. Producer names come from the operator's allow-list and may hold any of them.
    static func escapeLabel(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
