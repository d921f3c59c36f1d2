import Logging
import Transport
import Wire

/// The publish thread: owns the outbound XPUB socket. Sends what the clustering thread queues,
/// and re-sends the latest centers at once when a subscription for them arrives (a last-value
/// cache, so a late subscriber never waits for the next interval). It encodes `centers.json`
/// itself, and only while a subscription covers that topic.
final class PublishLoop: Sendable {
    let configuration: DaemonConfiguration
    let context: ZMQContext
    let statistics: Statistics
    let outbound: BoundedQueue<Outbound>
    /// Where sent messages go back to the emitter for reuse.
    let spent: BoundedQueue<WireMessage>
    let stop: EventFD
    let logger: Logger
    let security: CurveSecurity?
    let health: LoopHealth
    // SAFETY: set by start() and read by run(), both on the loop's own thread, never elsewhere.
    nonisolated(unsafe) private var socket: ZMQSocket?

    init(configuration: DaemonConfiguration, context: ZMQContext, statistics: Statistics,
         outbound: BoundedQueue<Outbound>, spent: BoundedQueue<WireMessage>, stop: EventFD, security: CurveSecurity?,
         health: LoopHealth, logger: Logger) {
        self.spent = spent
        self.security = security
        self.health = health
        self.configuration = configuration
        self.context = context
        self.statistics = statistics
        self.outbound = outbound
        self.stop = stop
        self.logger = logger
    }

    func openSocket() throws(ZMQError) -> ZMQSocket {
        // Bounded linger: the final centers get a second to leave at shutdown, never longer.
        let socket = try ZMQSocket(context: context, type: .xpub, linger: 1000)
        try socket.setSendHighWaterMark(Int32(clamping: configuration.output.highWaterMark))
        try socket.setXPubVerbose(true)
        // No XPUB_NODROP: with it, one subscriber at its high-water mark would make the send fail
        // for every subscriber. Without it libzmq drops only that subscriber's copy, and the
        // subscriber sees the gap in the topic's sequence numbers.
        try security?.apply(to: socket, role: "output")
        try socket.bind(configuration.output.endpoint)
        return socket
    }

    func run(socket: ZMQSocket) {
        let poller = ZMQPoller()
        let socketIndex = poller.add(socket)
        _ = poller.add(outbound.ready)
        let stopIndex = poller.add(stop)
        var cache: [String: WireMessage] = [:]
        // The subscribed prefixes (XPUB passes each subscription, and an unsubscription once no
        // subscriber holds that prefix any more), and the newest centers not yet encoded as JSON.
        var prefixes: Set<[UInt8]> = []
        let jsonTopic = Array(WireTopic.centersJSON.utf8)
        let assignmentTopics = (binary: Array(WireTopic.assignmentsBinary.utf8), json: Array(WireTopic.assignmentsJSON.utf8))
        var unencoded: CentersSnapshot?
        let limiter = DropLogLimiter(intervalSeconds: configuration.log.dropIntervalSeconds, what: "outbound message not encoded")
        var stopping = false
        let started = Clock.monotonicMilliseconds()
        while true {
            health.beat(.publish)
            if configuration.fault.failureDue("publish", started: started, now: Clock.monotonicMilliseconds()) {
                return health.fail(.publish, "poll: injected fault (fault.fail_loop)")
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: stopping ? 0 : 1000)
            } catch {
                if error.isEINTR { continue }
                if error.isETERM { return }
                return health.fail(.publish, "poll: \(error)")
            }
            if poller.isReadable(stopIndex) { stopping = true }
            if poller.isReadable(socketIndex) {
                // Subscription messages only; EAGAIN (nothing more) and any other receive error
                // end this drain alike, and the next poll reports a socket that is truly broken.
                while let frames = try? socket.receiveMultipart(dontWait: true), let first = frames.first, !first.isEmpty {
                    let prefix = first.dropFirst()
                    if first[0] == 1 {
                        statistics.subscriptions.add(1, ordering: .relaxed)
                        prefixes.insert(Array(prefix))
                        if jsonTopic.starts(with: prefix), let snapshot = unencoded {
                            unencoded = nil
                            if let m = encodeJSON(snapshot, limiter) { cache[WireTopic.centersJSON] = m }
                        }
                        for (topic, message) in cache where topic.utf8.starts(with: prefix) {
                            send(message, on: socket)
                        }
                    } else if first[0] == 0 {
                        statistics.subscriptions.subtract(1, ordering: .relaxed)
                        prefixes.remove(Array(prefix))
                    }
                }
                let watched = (binary: prefixes.contains { assignmentTopics.binary.starts(with: $0) },
                               json: prefixes.contains { assignmentTopics.json.starts(with: $0) })
                statistics.assignmentsBinaryWatched.store(watched.binary, ordering: .relaxed)
                statistics.assignmentsJSONWatched.store(watched.json, ordering: .relaxed)
            }
            outbound.acknowledge()
            while var item = outbound.pop() {
                send(item.message, on: socket)
                if item.kind == .centers, item.message.frameCount > 0 {
                    let topic = item.message.withFrame(0) { String(decoding: $0, as: UTF8.self) }
                    cache[topic] = item.message
                    if let snapshot = item.centersJSON {
                        // The cached JSON is older than these centers either way.
                        cache[WireTopic.centersJSON] = nil
                        unencoded = nil
                        if prefixes.contains(where: { jsonTopic.starts(with: $0) }) {
                            if let m = encodeJSON(snapshot, limiter) {
                                send(m, on: socket)
                                cache[WireTopic.centersJSON] = m
                            }
                        } else {
                            unencoded = snapshot
                        }
                    }
                } else {
                    // Back to the emitter, emptied but with its capacity; a full pool frees it.
                    item.message.removeAll()
                    _ = spent.tryPush(item.message)
                }
            }
            if stopping && outbound.count == 0 { break }
        }
    }

    /// `centers.json` for `snapshot`; nil (counted, and logged at most once per
    /// `log.drop_interval_s`) when a value cannot be written.
    private func encodeJSON(_ snapshot: CentersSnapshot, _ limiter: DropLogLimiter) -> WireMessage? {
        var m = WireMessage(reservingCapacity: 128 + snapshot.centers.count * 16)
        do {
            try snapshot.encodeJSON(into: &m)
            return m
        } catch {
            statistics.encodeFailures.add(1, ordering: .relaxed)
            limiter.log(logger, reason: WireTopic.centersJSON, detail: error.description)
            return nil
        }
    }

    private func send(_ message: WireMessage, on socket: ZMQSocket) {
        let n = message.frameCount
        guard n > 0 else { return }
        let sent: Bool = message.bytes.withUnsafeBytes { raw in
            withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: n) { views in
                var start = 0
                for i in 0..<n {
                    let end = message.frameEnds[i]
                    views.initializeElement(at: i, to: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    start = end
                }
                // A failed non-blocking send on XPUB means no room (EAGAIN): counted below as a drop.
                return (try? socket.send(rawFrames: UnsafeBufferPointer(views), dontWait: true)) ?? false
            }
        }
        if sent {
            statistics.published.add(1, ordering: .relaxed)
        } else {
            statistics.publishDropped.add(1, ordering: .relaxed)
        }
    }
}

extension PublishLoop: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .publish }

    func start() throws(StartupFailure) {
        do {
            socket = try openSocket()
        } catch {
            throw .opening(.publish, "output.endpoint \(configuration.output.endpoint)", error)
        }
    }

    func run() {
        guard let socket else { return }
        run(socket: socket)
        socket.close()
    }
}
