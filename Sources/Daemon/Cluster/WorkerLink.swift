import Clustering
import Logging
import Glibc
import Synchronization
import Transport

/// A worker's thread to its coordinator: owns a PUSH socket that carries statistics messages
/// (and the worker's seeding proposal) and a SUB socket that receives model versions.
///
/// The clustering thread never waits for it: it queues each encoded message with
/// ``BoundedQueue/tryPush(_:)`` on ``outgoing`` (a full queue drops the message and counts it),
/// and takes the newest model version from ``takeModel()`` when ``modelReady`` is readable.
/// Versions are conflated: a version that arrives before the clustering thread took the previous
/// one replaces it, because each version is a whole model and only the newest matters.
final class WorkerLink: Sendable {
    let configuration: DaemonConfiguration
    let context: ZMQContext
    let statistics: Statistics
    let stop: EventFD
    let health: LoopHealth
    let logger: Logger
    /// Encoded messages for the coordinator, from the clustering thread.
    let outgoing: BoundedQueue<[UInt8]>
    /// Sent messages' buffers, back to the clustering thread for reuse (as they were: see
    /// ``StatisticsMessage/encode(_:origin:into:)``).
    let spent: BoundedQueue<[UInt8]>
    /// Readable when a model version is waiting in ``takeModel()``.
    let modelReady: EventFD
    /// This worker's name in the coordinator's ledger (`cluster.worker_id`, or derived from the
    /// host name and process id), and this run's incarnation: its start in Unix milliseconds, so
    /// a restarted worker numbers its epochs from 1 again under a larger one.
    let workerID: UInt64
    let incarnation: UInt64
    /// A model version and what it says of this incarnation's epochs.
    struct Version {
        var model: ModelState
        /// The newest epoch the coordinator has received, or nil when it lists none.
        var acknowledged: UInt64?
        /// The last epoch the model holds (0: none).
        var merged: UInt64 = 0
        /// The last epoch the coordinator's newest checkpoint holds, or, from a coordinator
        /// without checkpoints, ``merged`` (0: none): epochs after it may have to be sent again.
        var durable: UInt64 = 0
    }
    private let latest = Mutex<Version?>(nil)
    /// Set when the coordinator asked for a model (it has none); taken by the clustering thread.
    private let modelRequested = Atomic<Bool>(false)
    // SAFETY: set by start() and read by run(), both on the loop's own thread, never elsewhere.
    nonisolated(unsafe) private var push: ZMQSocket?
    nonisolated(unsafe) private var sub: ZMQSocket?

    init(configuration: DaemonConfiguration, context: ZMQContext, statistics: Statistics, stop: EventFD,
         health: LoopHealth, logger: Logger) throws(ZMQError) {
        self.configuration = configuration
        self.context = context
        self.statistics = statistics
        self.stop = stop
        self.health = health
        self.logger = logger
        outgoing = try BoundedQueue(capacity: configuration.cluster.queueEpochs)
        spent = try BoundedQueue(capacity: min(configuration.cluster.queueEpochs, 8))
        modelReady = try EventFD()
        workerID = configuration.cluster.workerID != 0 ? configuration.cluster.workerID : Self.derivedWorkerID()
        incarnation = UInt64(Clock.unixMilliseconds())
    }

    /// A name for a worker that was given none: FNV-1a of the host name and process id, never 0.
    private static func derivedWorkerID() -> UInt64 {
        var name = [CChar](repeating: 0, count: 256)
        _ = gethostname(&name, name.count - 1)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let host = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        for byte in host + Array("/\(getpid())".utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return max(1, hash >> 11)  // within 2⁵³, like a configured cluster.worker_id
    }

    /// Whether the coordinator asked for a model since the last call (the clustering thread).
    func takeModelRequest() -> Bool { modelRequested.exchange(false, ordering: .relaxed) }

    /// The newest model version received since the last call, if any (the clustering thread).
    func takeModel() -> Version? {
        _ = try? modelReady.drain()  // EAGAIN (nothing to drain) is the only failure
        return latest.withLock { $0.take() }
    }

    private func run(push: ZMQSocket, sub: ZMQSocket) {
        let poller = ZMQPoller()
        let subIndex = poller.add(sub)
        _ = poller.add(outgoing.ready)
        let stopIndex = poller.add(stop)
        var waiting: [UInt8]?
        var message = ZMQMultipartMessage()
        var newest = ZMQMultipartMessage()
        let started = Clock.monotonicMilliseconds()
        while true {
            health.beat(.cluster)
            if configuration.fault.failureDue("cluster", started: started, now: Clock.monotonicMilliseconds()) {
                return health.fail(.cluster, "poll: injected fault (fault.fail_loop)")
            }
            do {
                // While libzmq refuses a message (its queue to the coordinator is full, or the
                // coordinator is away) the loop retries every 10 ms; otherwise it sleeps.
                _ = try poller.poll(timeoutMilliseconds: waiting == nil ? 1000 : 10)
            } catch {
                if error.isEINTR { continue }
                if error.isETERM { return }
                return health.fail(.cluster, "poll: \(error)")
            }
            if poller.isReadable(stopIndex) { return }
            if poller.isReadable(subIndex) { receiveModels(sub, into: &message, newest: &newest) }
            outgoing.acknowledge()
            while true {
                if waiting == nil { waiting = outgoing.pop() }
                guard let frame = waiting else { break }
                // EAGAIN (no room) keeps the frame for the next turn; other errors are the
                // socket's, and a message that cannot be sent is lost like one dropped.
                let sent = (try? push.sendFrame(frame, dontWait: true)) ?? false
                guard sent else { break }
                if frame.starts(with: StatisticsMessage.magic) {
                    statistics.cluster.epochsSent.add(1, ordering: .relaxed)
                } else {
                    statistics.cluster.proposalsSent.add(1, ordering: .relaxed)
                }
                waiting = nil
                // Whole, not emptied: the next message of the same shape overwrites it in place.
                _ = spent.tryPush(frame)
            }
        }
    }

    /// Takes every waiting model message and decodes the newest (each is a whole model, and the
    /// newest acknowledges at least what the earlier ones did); keeps it for the clustering thread
    /// when it is acceptable, and counts it when not.
    private func receiveModels(_ sub: ZMQSocket, into message: inout ZMQMultipartMessage,
                               newest: inout ZMQMultipartMessage) {
        let c = configuration.model
        var received = 0
        // EAGAIN ends the drain; so does any other receive error, which leaves nothing to count
        // (no message arrived) and which the next poll reports (ETERM at shutdown) or retries.
        while (try? sub.receive(into: &message, dontWait: true)) == true {
            if message.count == 1, message.withUnsafeBytes(ofFrame: 0, { $0.starts(with: ModelMessage.requestMagic) }) {
                modelRequested.store(true, ordering: .relaxed)
                try? modelReady.signal()  // fails only on counter overflow, and then it is readable
                continue
            }
            guard message.count == 2 || message.count == 3 else {
                statistics.cluster.modelsRefused.add(1, ordering: .relaxed)
                continue
            }
            swap(&message, &newest)
            received += 1
        }
        if received > 1 { statistics.cluster.modelsOutdated.add(UInt64(received - 1), ordering: .relaxed) }
        guard received > 0 else { return }
        let decoded: ModelState
        let acknowledged: UInt64?
        var durable: UInt64?
        do {
            decoded = try newest.withUnsafeBytes(ofFrame: 0) { bytes throws(ModelStateError) in try ModelState(encoded: bytes) }
            func mine(_ frame: Int) throws(StatisticsMessage.DecodeError) -> UInt64? {
                let position = try newest.withUnsafeBytes(ofFrame: frame) { bytes throws(StatisticsMessage.DecodeError) in
                    try ModelMessage.acknowledgement(for: workerID, in: bytes)
                }
                return position?.incarnation == incarnation ? position?.sequence : nil
            }
            acknowledged = try mine(1)
            if newest.count == 3 { durable = try mine(2) ?? 0 }
        } catch {
            statistics.cluster.modelsRefused.add(1, ordering: .relaxed)
            logger.warning("model message refused: \(error)")
            return
        }
        guard decoded.k == c.k, decoded.metric == c.metric, c.dimension == 0 || decoded.dimension == c.dimension else {
            statistics.cluster.modelsRefused.add(1, ordering: .relaxed)
            logger.warning("model message refused: k = \(decoded.k), dimension = \(decoded.dimension), metric = \(decoded.metric.rawValue); this worker has model.k = \(c.k), model.dimension = \(c.dimension), model.metric = \(c.metric.rawValue)")
            return
        }
        let inModel = decoded.mergedEpochs.lastSequence(of: workerID)
        let merged = inModel?.incarnation == incarnation ? inModel!.sequence : 0
        latest.withLock { $0 = Version(model: decoded, acknowledged: acknowledged, merged: merged, durable: durable ?? merged) }
        try? modelReady.signal()  // fails only on counter overflow, and then it is readable
    }
}

extension WorkerLink: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .cluster }

    func start() throws(StartupFailure) {
        let c = configuration.cluster
        do {
            // Linger 1 s: the last statistics get a moment to leave at shutdown, never longer.
            let push = try ZMQSocket(context: context, type: .push, linger: 1000)
            // The worker's own queue (cluster.queue_epochs) is where epochs wait; libzmq's is kept short.
            try push.setSendHighWaterMark(4)
            try push.connect(c.statisticsEndpoint)
            self.push = push
        } catch {
            throw .opening(.cluster, "cluster.statistics_endpoint \(c.statisticsEndpoint)", error)
        }
        do {
            let sub = try ZMQSocket(context: context, type: .sub, linger: 0)
            try sub.setReceiveHighWaterMark(4)
            try sub.setMaxMessageSize(Int64(configuration.input.maxFrameBytes))
            try sub.subscribe("")
            try sub.connect(c.modelEndpoint)
            self.sub = sub
        } catch {
            push?.close()
            throw .opening(.cluster, "cluster.model_endpoint \(c.modelEndpoint)", error)
        }
    }

    func run() {
        guard let push, let sub else { return }
        run(push: push, sub: sub)
        sub.close()
        push.close()
    }
}
