import Clustering
import Logging
import Synchronization
import Transport

/// The coordinator's thread to its workers: owns the PULL socket statistics arrive on and the
/// XPUB socket model versions leave on.
///
/// Inbound frames go to the clustering thread through ``incoming``; when it is full this thread
/// stops reading, so libzmq's queues fill and the workers' own bounded queues drop (and count)
/// what cannot wait. Model versions come from the clustering thread through ``publish(_:)``,
/// newest only, and leave as a ``ModelMessage`` (the encoded ``ModelState``, whose version is
/// its sequence number, and the workers' acknowledgements). The last one sent is re-sent whenever a worker subscribes (the zguide's
/// Clone pattern, with the snapshot delivered by the XPUB welcome), so a worker that joins or
/// reconnects has the model at once.
final class CoordinatorLink: Sendable {
    let configuration: DaemonConfiguration
    let context: ZMQContext
    let statistics: Statistics
    let stop: EventFD
    let health: LoopHealth
    let logger: Logger
    /// Frames from workers, for the clustering thread.
    let incoming: BoundedQueue<[UInt8]>
    /// Read frames' buffers, back from the clustering thread for reuse.
    let recycled: BoundedQueue<[UInt8]>
    private let outgoing = Mutex<[[UInt8]]?>(nil)
    private let outgoingReady: EventFD
    // SAFETY: set by start() and read by run(), both on the loop's own thread, never elsewhere.
    nonisolated(unsafe) private var pull: ZMQSocket?
    nonisolated(unsafe) private var xpub: ZMQSocket?

    init(configuration: DaemonConfiguration, context: ZMQContext, statistics: Statistics, stop: EventFD,
         health: LoopHealth, logger: Logger) throws(ZMQError) {
        self.configuration = configuration
        self.context = context
        self.statistics = statistics
        self.stop = stop
        self.health = health
        self.logger = logger
        incoming = try BoundedQueue(capacity: 64)
        recycled = try BoundedQueue(capacity: 68)
        outgoingReady = try EventFD()
    }

    /// Hands a model version's frames (``ModelMessage``) to the publishing side (the clustering
    /// thread); replaces one not yet sent.
    func publish(_ encoded: [[UInt8]]) {
        outgoing.withLock { $0 = encoded }
        try? outgoingReady.signal()  // fails only on counter overflow, and then it is readable
    }

    private func run(pull: ZMQSocket, xpub: ZMQSocket) {
        // Two poll sets: while the inbound queue is full the PULL socket is left out, or a
        // readable socket that is not read would spin the loop.
        let reading = ZMQPoller()
        let pullIndex = reading.add(pull)
        let xpubIndex = reading.add(xpub)
        let readyIndex = reading.add(outgoingReady)
        let stopIndex = reading.add(stop)
        let full = ZMQPoller()
        _ = full.add(xpub)
        _ = full.add(outgoingReady)
        _ = full.add(stop)
        _ = full.add(incoming.room)
        var message = ZMQMessage()
        var last: [[UInt8]]?
        let started = Clock.monotonicMilliseconds()
        while true {
            health.beat(.cluster)
            if configuration.fault.failureDue("cluster", started: started, now: Clock.monotonicMilliseconds()) {
                return health.fail(.cluster, "poll: injected fault (fault.fail_loop)")
            }
            let isFull = incoming.count >= incoming.capacity
            let poller = isFull ? full : reading
            do {
                _ = try poller.poll(timeoutMilliseconds: 1000)
            } catch {
                if error.isEINTR { continue }
                if error.isETERM { return }
                return health.fail(.cluster, "poll: \(error)")
            }
            // Both poll sets list the XPUB socket, the model eventfd and stop in that order.
            let (x, r, s) = isFull ? (0, 1, 2) : (xpubIndex, readyIndex, stopIndex)
            if poller.isReadable(s) { return }
            if isFull {
                _ = try? incoming.room.drain()  // EAGAIN (nothing to drain) is the only failure
            } else if poller.isReadable(pullIndex) {
                receiveFrames(pull, into: &message)
            }
            if poller.isReadable(r) {
                _ = try? outgoingReady.drain()  // as above
                if let next = outgoing.withLock({ $0.take() }) {
                    last = next
                    send(next, on: xpub)
                }
            }
            if poller.isReadable(x) {
                // Subscriptions (first byte 1) get the latest model at once; unsubscriptions
                // (0) need nothing. EAGAIN ends the drain, as does any other receive error (no
                // frame arrived; the next poll reports ETERM or retries).
                while (try? xpub.receive(into: &message, dontWait: true)) == true {
                    let subscribed = message.withUnsafeBytes { $0.first == 1 }
                    if subscribed, let last { send(last, on: xpub) }
                }
            }
        }
    }

    private func receiveFrames(_ pull: ZMQSocket, into message: inout ZMQMessage) {
        // EAGAIN ends the drain; so does any other receive error, which leaves nothing to count
        // (no frame arrived) and which the next poll reports (ETERM at shutdown) or retries.
        while incoming.count < incoming.capacity, (try? pull.receive(into: &message, dontWait: true)) == true {
            if message.more {
                // Statistics and proposals are one frame each: anything longer is malformed.
                while message.more, (try? pull.receive(into: &message, dontWait: true)) == true {}
                statistics.drop(StatisticsMessage.DecodeError.Reason.malformed.rawValue)
                continue
            }
            var frame = recycled.pop() ?? []
            frame.removeAll(keepingCapacity: true)
            message.withUnsafeBytes { frame.append(contentsOf: $0) }
            // Room was checked above and this thread is the only producer.
            _ = incoming.tryPush(frame)
        }
    }

    private func send(_ model: [[UInt8]], on xpub: ZMQSocket) {
        // A worker at its high-water mark loses this version, not the others; it gets the next.
        if (try? xpub.send(model, dontWait: true)) == true {
            statistics.cluster.modelsPublished.add(1, ordering: .relaxed)
        } else {
            statistics.cluster.modelsNotPublished.add(1, ordering: .relaxed)
        }
    }
}

extension CoordinatorLink: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .cluster }

    func start() throws(StartupFailure) {
        let c = configuration.cluster
        do {
            let pull = try ZMQSocket(context: context, type: .pull, linger: 0)
            try pull.setReceiveHighWaterMark(64)
            try pull.setMaxMessageSize(Int64(configuration.input.maxFrameBytes))
            try pull.bind(c.statisticsEndpoint)
            self.pull = pull
        } catch {
            throw .opening(.cluster, "cluster.statistics_endpoint \(c.statisticsEndpoint)", error)
        }
        do {
            let xpub = try ZMQSocket(context: context, type: .xpub, linger: 1000)
            // A few versions per worker: a slow worker should skip to the newest, not queue old ones.
            try xpub.setSendHighWaterMark(4)
            try xpub.setXPubVerbose(true)
            try xpub.bind(c.modelEndpoint)
            self.xpub = xpub
        } catch {
            pull?.close()
            throw .opening(.cluster, "cluster.model_endpoint \(c.modelEndpoint)", error)
        }
    }

    func run() {
        guard let pull, let xpub else { return }
        run(pull: pull, xpub: xpub)
        xpub.close()
        pull.close()
    }
}
