import Glibc
import Clustering
import Logging
import Transport
import Wire

/// The query thread: owns the REP socket and answers `snapshot`, `stats` and `predict` from the
/// latest shared model, without touching the model itself.
final class QueryLoop: Sendable {
    let configuration: DaemonConfiguration
    let context: ZMQContext
    let statistics: Statistics
    let shared: SharedModel
    let stop: EventFD
    let logger: Logger
    let startEpoch: UInt64
    let startedAt: Int64
    let security: CurveSecurity?
    let health: LoopHealth
    // SAFETY: set by start() and read by run(), both on the loop's own thread, never elsewhere.
    nonisolated(unsafe) private var socket: ZMQSocket?

    init(configuration: DaemonConfiguration, context: ZMQContext, statistics: Statistics, shared: SharedModel,
         stop: EventFD, logger: Logger, startEpoch: UInt64, security: CurveSecurity?, health: LoopHealth) {
        self.security = security
        self.health = health
        self.configuration = configuration
        self.context = context
        self.statistics = statistics
        self.shared = shared
        self.stop = stop
        self.logger = logger
        self.startEpoch = startEpoch
        self.startedAt = Clock.unixMilliseconds()
    }

    func openSocket() throws(ZMQError) -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .rep, linger: 0)
        try socket.setMaxMessageSize(Int64(configuration.input.maxFrameBytes))
        try security?.apply(to: socket, role: "query")
        try socket.bind(configuration.query.endpoint)
        return socket
    }

    /// Answers queries until `stop`. Returns the socket it ends with: a REP socket whose reply
    /// failed to send cannot receive again, so it is closed and a new one bound in its place.
    func run(socket initial: ZMQSocket) -> ZMQSocket? {
        var socket: ZMQSocket? = initial
        let updater = MiniBatchUpdater(configuration: configuration.update)
        var request = ZMQMultipartMessage(capacity: 4)
        var reply = WireMessage(reservingCapacity: 1 << 16)
        var decoder = VectorDecoder(
            expectedDimension: nil,
            limits: WireLimits(maxFrameBytes: configuration.input.maxFrameBytes,
                               maxVectorsPerMessage: configuration.query.maxPredictVectors))
        // Predicted vectors are compared the way training vectors are.
        decoder.unitLength = configuration.model.metric == .cosine
        var batch = VectorBatch()
        var injectedSendFailures = configuration.fault.querySendFailures
        let started = Clock.monotonicMilliseconds()
        let limiter = DropLogLimiter(intervalSeconds: configuration.log.dropIntervalSeconds, what: "query reply not sent")
        var poller = ZMQPoller()
        var polled: ZMQSocket?
        var socketIndex = 0, stopIndex = 0
        while true {
            health.beat(.query)
            if configuration.fault.failureDue("query", started: started, now: Clock.monotonicMilliseconds()) {
                health.fail(.query, "poll: injected fault (fault.fail_loop)")
                return socket
            }
            guard let current = socket else {
                // The socket could not be reopened; retry once a second while still answering stop.
                if waitForStop(milliseconds: 1000) { return nil }
                socket = reopen()
                continue
            }
            // One poller per socket, rebuilt only when a broken socket was replaced.
            if polled !== current {
                poller = ZMQPoller()
                socketIndex = poller.add(current)
                stopIndex = poller.add(stop)
                polled = current
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: 1000)
            } catch {
                if error.isEINTR { continue }
                if error.isETERM { return socket }
                health.fail(.query, "poll: \(error)")
                return socket
            }
            if poller.isReadable(stopIndex) { return current }
            guard poller.isReadable(socketIndex) else { continue }
            let received: Bool
            do {
                received = try current.receive(into: &request, dontWait: true)
            } catch {
                // Only EAGAIN is expected here; anything else leaves the REP unable to go on.
                if error.isEAGAIN { continue }
                statistics.querySendFailures.add(1, ordering: .relaxed)
                limiter.log(logger, reason: "receive", detail: "\(error); opening the query socket anew")
                current.close()
                socket = reopen()
                continue
            }
            guard received else { continue }
            let snap = shared.snapshot
            if updater.configuration != snap.update { updater.configuration = snap.update }
            reply.removeAll()
            batch.removeAll()
            do throws(WireError) {
                let kind = try request.withUnsafeFrames { (frames) throws(WireError) -> QueryRequest in
                    try decoder.decodeQuery(frames: frames, into: &batch)
                }
                try answer(kind, snap: snap, batch: batch, updater: updater, into: &reply)
            } catch {
                reply.removeAll()
                error.encodeReply(into: &reply)
            }
            statistics.queries.add(1, ordering: .relaxed)
            var sent = false
            var failure = "injected fault (fault.query_send_failures)"
            if injectedSendFailures > 0 {
                injectedSendFailures -= 1
            } else {
                do {
                    sent = try current.send(reply.frames, dontWait: false)
                } catch {
                    failure = "\(error)"
                }
            }
            if !sent {
                statistics.querySendFailures.add(1, ordering: .relaxed)
                limiter.log(logger, reason: "send", detail: "\(failure); opening the query socket anew")
                current.close()
                socket = reopen()
            }
        }
    }

    /// A new REP socket in place of a broken one; nil (logged) if it cannot be bound yet.
    private func reopen() -> ZMQSocket? {
        do {
            return try openSocket()
        } catch {
            logger.error("query socket: cannot open anew: \(error); retrying in a second")
            return nil
        }
    }

    private func waitForStop(milliseconds: Int32) -> Bool {
        var fd = pollfd(fd: stop.fileDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, milliseconds) > 0
    }

    private func answer(_ kind: QueryRequest, snap: SharedModel.Snapshot, batch: VectorBatch, updater: MiniBatchUpdater, into reply: inout WireMessage) throws(WireError) {
        switch kind {
        case .stats:
            try encodeStatsReply(stats(snap), into: &reply)
        case .snapshot:
            guard let state = snap.state else { return notReady(snap, into: &reply) }
            CentersSnapshot(k: state.k, dimension: state.dimension, startEpoch: startEpoch, sequence: 0,
                            modelEpoch: state.epoch, modelVersion: state.batches, temperature: state.temperature,
                            centers: state.centers, counts: state.counts).encodeBinary(topic: nil, into: &reply)
        case .predict:
            guard let state = snap.state else { return notReady(snap, into: &reply) }
            guard batch.dimension == state.dimension else {
                throw WireError(.dimensionMismatch, "vectors of dimension \(batch.dimension ?? 0), the model has \(state.dimension)")
            }
            batch.values.withUnsafeBufferPointer { updater.predict(state, rows: $0, count: batch.count) }
            var out = Assignments(k: state.k, startEpoch: startEpoch, sequence: 0, modelVersion: state.batches)
            for i in 0..<batch.count {
                let s = updater.support(i)
                let pairs = (0..<s.indices.count).map { (center: Int(s.indices[$0]), weight: s.weights[$0]) }
                try out.appendRow(id: batch.ids[i], best: updater.bestCenter(i), distance: updater.squaredDistance(i), support: pairs)
            }
            out.encodeBinary(topic: nil, into: &reply)
        }
    }

    /// The error reply while the model is still warming up (a reason of its own, so clients can wait and retry).
    private func notReady(_ snap: SharedModel.Snapshot, into reply: inout WireMessage) {
        reply.appendFrame("error")
        reply.appendFrame("not_ready")
        reply.appendFrame("no model yet: warming up, \(snap.warmupCollected) of \(snap.warmupNeeded) vectors")
    }

    private func stats(_ snap: SharedModel.Snapshot) -> [String: WireScalar] {
        let q = statistics.currentQuality
        var out: [String: WireScalar] = [
            "start_epoch": .int(Int64(bitPattern: startEpoch)),
            "uptime_s": .double(Double(Clock.unixMilliseconds() - startedAt) / 1000),
            "vectors_in": .int(Int64(statistics.vectorsIn.load(ordering: .relaxed))),
            "vectors_accepted": .int(Int64(statistics.vectorsAccepted.load(ordering: .relaxed))),
            "messages_in": .int(Int64(statistics.messagesIn.load(ordering: .relaxed))),
            "batches": .int(Int64(statistics.batches.load(ordering: .relaxed))),
            "sequence_gaps": .int(Int64(statistics.sequenceGaps.load(ordering: .relaxed))),
            "published": .int(Int64(statistics.published.load(ordering: .relaxed))),
            "publish_dropped": .int(Int64(statistics.publishDropped.load(ordering: .relaxed))),
            "assignments_unwatched": .int(Int64(statistics.assignmentsUnwatched.load(ordering: .relaxed))),
            "input_high_water_mark": .int(statistics.inputHighWaterMark.load(ordering: .relaxed)),
            "dropped": .int(Int64(statistics.totalDropped)),
            "inertia_per_vector": .double(q.inertiaPerVector),
            "mean_support_size": .double(q.meanSupportSize),
            "one_hot_fraction": .double(q.oneHotFraction),
            "warmup_collected": .int(Int64(snap.warmupCollected)),
            "warmup_needed": .int(Int64(snap.warmupNeeded)),
        ]
        for (reason, n) in statistics.dropsByReason { out["dropped_" + reason] = .int(Int64(n)) }
        for (reason, n) in statistics.droppedVectorsByReason { out["dropped_vectors_" + reason] = .int(Int64(n)) }
        for (name, n) in statistics.vectorsByProducer { out["producer_vectors_" + name] = .int(Int64(n)) }
        for (name, n) in statistics.eventsByName { out["events_" + name] = .int(Int64(n)) }
        out["authentications_allowed"] = .int(Int64(statistics.authenticationsAllowed.load(ordering: .relaxed)))
        out["authentications_denied"] = .int(Int64(statistics.authenticationsDenied.load(ordering: .relaxed)))
        out["handshake_failures"] = .int(Int64(statistics.handshakeFailures.load(ordering: .relaxed)))
        if let state = snap.state {
            out["k"] = .int(Int64(state.k))
            out["dimension"] = .int(Int64(state.dimension))
            out["model_version"] = .int(Int64(state.batches))
            out["model_epoch"] = .int(Int64(bitPattern: state.epoch))
            out["temperature"] = .double(state.temperature)
            out["vectors_seen"] = .int(Int64(state.vectorsSeen))
            out["reseeds"] = .int(Int64(state.reseeds))
            out["separations"] = .int(Int64(state.separations))
        }
        out["mode"] = .string(snap.update.mode.rawValue)
        out["checkpoints_written"] = .int(Int64(statistics.checkpointsWritten.load(ordering: .relaxed)))
        out["checkpoint_failures"] = .int(Int64(statistics.checkpointFailures.load(ordering: .relaxed)))
        out["checkpoints_skipped"] = .int(Int64(statistics.checkpointsSkipped.load(ordering: .relaxed)))
        out["encode_failures"] = .int(Int64(statistics.encodeFailures.load(ordering: .relaxed)))
        out["query_send_failures"] = .int(Int64(statistics.querySendFailures.load(ordering: .relaxed)))
        out["cluster_role"] = .string(statistics.cluster.role.rawValue)
        for r in statistics.cluster.readings(now: Clock.monotonicMilliseconds()) {
            let name = r.name.hasSuffix("_total") ? String(r.name.dropLast(6)) : r.name
            let key = r.worker.map { "cluster_worker_\($0)_" + name.dropFirst("worker_".count) } ?? "cluster_" + name
            out[key] = r.type == "counter" ? .int(Int64(r.value)) : .double(r.value)
        }
        return out
    }
}

extension QueryLoop: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .query }

    func start() throws(StartupFailure) {
        do {
            socket = try openSocket()
        } catch {
            throw .opening(.query, "query.endpoint \(configuration.query.endpoint)", error)
        }
    }

    func run() {
        guard let socket else { return }
        // The loop may have replaced a broken socket: close the one it ends with.
        run(socket: socket)?.close()
    }
}
