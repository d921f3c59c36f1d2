import Glibc
import Clustering
import Logging
import Transport
import Synchronization
import Wire

/// The clustering thread: the one owner of the model. Takes closed batches, seeds the model
/// from the warm-up, applies updates and reloads; says what happened through its ``Emitter``
/// (assignments, centers, heartbeats, events), publishes the model to readers through a
/// double buffer, and hands checkpoints to the ``CheckpointWriter``. It never encodes a file,
/// writes to disk or sleeps.
///
/// Under `cluster.role = "worker"` it computes each batch's sufficient statistics against the
/// model version it holds, publishes the batch's assignments and queues the statistics for the
/// coordinator (``WorkerLink``) instead of applying them: the model changes only by adopting the
/// versions the coordinator publishes. Under `"coordinator"` it ingests nothing: it merges the
/// workers' statistics (``StatisticsMerger``), applies them as steps, and publishes each version
/// to the workers (``CoordinatorLink``) as well as on its own output.
// SAFETY: every mutable field is touched only by the clustering thread, inside `run()`;
// other threads reach this object only through the Sendable queues, `SharedModel` and the
// reload mailbox (a Mutex).
final class ClusteringLoop: @unchecked Sendable {
    private(set) var configuration: DaemonConfiguration
    private let reloads = Mutex<DaemonConfiguration?>(nil)
    let statistics: Statistics
    let batches: BoundedQueue<InboundBatch>
    let recycled: BoundedQueue<VectorBatch>
    let shared: SharedModel
    let stop: EventFD
    let logger: Logger
    let startEpoch: UInt64
    let checkpoints: CheckpointWriter?
    let health: LoopHealth
    /// Centers to start from instead of k-means++, row-major.
    let initialCenters: [Float]?

    private var model: ModelState?
    private var warmup: [Float] = []
    private var warmupIDs = VectorIDs()
    /// The warm-up's sample weights, one per vector once any arrived weighted; empty means all 1.
    private var warmupWeights: [Float] = []
    private var dimension: Int?
    private let updater: MiniBatchUpdater
    /// Per-cluster changes worth telling; its references live here, not in the checkpoint (after
    /// a restart they are taken afresh).
    private var monitor: ClusterMonitor
    private let dispatch: PartPool
    let emitter: Emitter
    /// The owner's half of the shared model's double buffer.
    private var spare: ModelState?
    private var lastCentersAt: UInt64 = 0
    private var lastCentersVersion: UInt64 = .max
    private var lastHeartbeatAt: UInt64 = 0
    private var lastCheckpointAt: UInt64 = 0
    private var lastCheckpointVersion: UInt64 = .max
    private let encodeLimiter: DropLogLimiter

    // The cluster roles' state (README, "Several machines").
    private let workerLink: WorkerLink?
    private let coordinatorLink: CoordinatorLink?
    /// The coordinator's steps not yet published to the workers, and when a version last was
    /// (monotonic milliseconds): versions go out at most every `cluster.model_interval_ms`.
    private var modelUnpublished = false
    private var lastModelAt: UInt64 = 0
    /// When a coordinator without a model last asked the workers for one, and when a worker
    /// last offered its model in answer (monotonic milliseconds): at most once a second each.
    private var lastRequestAt: UInt64 = 0
    private var lastOfferAt: UInt64 = 0
    /// The last epoch numbered, and the newest the coordinator acknowledged receiving.
    private var sequence: UInt64 = 0
    private var acknowledged: UInt64 = 0
    /// When `acknowledged` last moved, or the window last closed (monotonic milliseconds).
    private var acknowledgedAt: UInt64 = 0
    /// Batches not sent yet (gathering an epoch, or while `cluster.window` messages are on
    /// their way), summed, and relative to the model version held (rebased when a new one is
    /// adopted).
    private var held: SufficientStatistics
    /// The model version the oldest batch in `held` was computed against.
    private var heldSince: UInt64 = 0
    /// Copies of the epochs sent that the coordinator's newest checkpoint may not hold yet
    /// (made at the first send, in the statistics' shape).
    private var retention: EpochRetention?
    /// When the held statistics took their first batch (monotonic milliseconds).
    private var heldAt: UInt64 = 0
    /// A worker takes no batch while this holds: after proposing its seed, until the first
    /// model arrives, and in the synchronous mode after each batch until the version that
    /// includes it.
    private var awaitingModel = false
    /// In the synchronous mode, the version the last batch was computed against.
    private var awaitedBase: (epoch: UInt64, version: UInt64)?
    /// The coordinator's merge of the workers' statistics; nil until it has a model.
    private var merger: StatisticsMerger?
    /// When each worker's last epoch was admitted (monotonic milliseconds).
    private var workerHeard: [UInt64: UInt64] = [:]

    init(configuration: DaemonConfiguration, statistics: Statistics, batches: BoundedQueue<InboundBatch>,
         recycled: BoundedQueue<VectorBatch>, outbound: BoundedQueue<Outbound>, spent: BoundedQueue<WireMessage>,
         shared: SharedModel,
         stop: EventFD, logger: Logger, startEpoch: UInt64, restored: ModelState?, checkpoints: CheckpointWriter?,
         health: LoopHealth, initialCenters: (centers: [Float], dimension: Int)? = nil,
         workerLink: WorkerLink? = nil, coordinatorLink: CoordinatorLink? = nil) {
        self.workerLink = workerLink
        self.coordinatorLink = coordinatorLink
        self.held = SufficientStatistics(k: configuration.model.k, dimension: max(1, configuration.model.dimension))
        self.health = health
        self.initialCenters = initialCenters?.centers
        self.configuration = configuration
        self.statistics = statistics
        self.batches = batches
        self.recycled = recycled
        self.shared = shared
        self.stop = stop
        self.logger = logger
        self.startEpoch = startEpoch
        self.checkpoints = checkpoints
        self.model = restored
        self.dimension = restored?.dimension ?? initialCenters?.dimension ?? (configuration.model.dimension > 0 ? configuration.model.dimension : nil)
        self.updater = MiniBatchUpdater(configuration: configuration.update)
        self.monitor = configuration.changes.monitor
        self.dispatch = PartPool(width: configuration.model.threads)
        self.encodeLimiter = DropLogLimiter(intervalSeconds: configuration.log.dropIntervalSeconds, what: "outbound message not encoded")
        self.emitter = Emitter(startEpoch: startEpoch, k: configuration.model.k, statistics: statistics,
                               outbound: outbound, spent: spent, limiter: encodeLimiter, logger: logger)
        if let restored { shared.publish(restored) }
        shared.warmup(collected: 0, needed: configuration.warmupVectors)
    }

    /// Runs until `stop` is signalled and the queue is drained; then publishes the final
    /// centers and writes the final checkpoint.
    func run() {
        let poller = ZMQPoller()
        _ = poller.add(batches.ready)
        let stopIndex = poller.add(stop)
        if let workerLink { _ = poller.add(workerLink.modelReady) }
        if let coordinatorLink { _ = poller.add(coordinatorLink.incoming.ready) }
        if coordinatorLink != nil, let restored = model { coordinate(restored, onDisk: true) }
        var stopping = false
        let started = Clock.monotonicMilliseconds()
        let stallAt = configuration.fault.stallAfterSeconds > 0 ? started + UInt64(configuration.fault.stallAfterSeconds * 1000) : UInt64.max
        emitEvent("start", ["restored": .int(model == nil ? 0 : 1), "k": .int(Int64(configuration.model.k))])
        if let model { emitEvent("restore", ["model_version": .int(Int64(model.batches)), "model_epoch": .int(Int64(model.epoch))]) }
        while true {
            let now = Clock.monotonicMilliseconds()
            if now >= stallAt {
                logger.error("fault.stall_after_s: the clustering loop stalls now, on purpose")
                while true { sleep(3600) }
            }
            health.beat(.clustering)
            if configuration.fault.failureDue("clustering", started: started, now: now) {
                health.fail(.clustering, "poll: injected fault (fault.fail_loop)")
                break
            }
            if let next = reloads.withLock({ $0.take() }) { apply(next) }
            do {
                _ = try poller.poll(timeoutMilliseconds: stopping ? 0 : Int(timeUntilNextTimer(now: now)))
            } catch {
                if !error.isEINTR {
                    health.fail(.clustering, "poll: \(error)")
                    break
                }
            }
            if poller.isReadable(stopIndex) { stopping = true }
            if let workerLink, let next = workerLink.takeModel() { adopt(next) }
            if let workerLink, workerLink.takeModelRequest() { offerModel(workerLink) }
            if let coordinatorLink { receiveStatistics(coordinatorLink) }
            batches.acknowledge()
            while !awaitingModel, var batch = batches.pop() {
                process(&batch)
                health.beat(.clustering)
                // A backlog can hold many batches. Between them a worker takes the newest model
                // version, or its window would stay shut and the whole backlog would be learned
                // against one old model and reach the coordinator as one late message; and the
                // timers (centers, heartbeats, checkpoints by interval) keep their times.
                if let workerLink, let next = workerLink.takeModel() { adopt(next) }
                timers(now: Clock.monotonicMilliseconds(), force: false)
            }
            timers(now: Clock.monotonicMilliseconds(), force: false)
            // The ingest thread flushes its open batch before it exits; once stop is signalled
            // and the queue is empty there is nothing more to come. A worker still waiting for
            // the coordinator at that point leaves its queued batches unlearned.
            if stopping && (batches.count == 0 || awaitingModel) { break }
        }
        timers(now: Clock.monotonicMilliseconds(), force: true)
        emitEvent("shutdown", ["model_version": .int(Int64(model?.batches ?? 0))])
    }

    /// Hands a reloaded configuration to the clustering thread (any thread may call this); it
    /// applies at the loop's next turn, between batches.
    func requestReload(_ configuration: DaemonConfiguration) {
        reloads.withLock { $0 = configuration }
        // Fails only if the eventfd counter would overflow, and then it is already readable.
        try? batches.ready.signal()
    }

    /// Applies what may change under a running model: the update rule and the schedule.
    private func apply(_ next: DaemonConfiguration) {
        configuration = next
        // New factors apply to the references already taken.
        monitor.sizeFactor = next.changes.sizeFactor
        monitor.spreadFactor = next.changes.spreadFactor
        monitor.locationFraction = next.changes.locationFraction
        updater.configuration = next.update
        shared.setUpdate(next.update)
        encodeLimiter.setInterval(seconds: next.log.dropIntervalSeconds)
        guard var state = model else { return }
        var schedule = state.schedule
        schedule.kind = next.temperature.schedule
        schedule.halfLife = next.temperatureHalfLife
        if let fixed = next.fixedSchedule {
            schedule.initial = fixed.initial
            schedule.floor = fixed.floor
        } else {
            schedule.floor = Seeding.floor(schedule.initial, ratio: next.temperature.floorRatio)
        }
        if let why = schedule.validationError {
            logger.error("reload: temperature schedule not changed: \(why)")
            return
        }
        state.schedule = schedule
        model = state
        merger?.modifyModel { $0.schedule = schedule }
        shared.publish(state)
        logger.notice("reload applied: mode = \(next.model.mode.rawValue), T = \(state.temperature) (T₀ = \(schedule.initial), floor = \(schedule.floor), half-life = \(schedule.halfLife) vectors, \(schedule.kind.rawValue))")
    }

    private func timeUntilNextTimer(now: UInt64) -> UInt64 {
        func until(_ due: UInt64) -> UInt64 { due > now ? due - now : 0 }
        var next: UInt64 = 1000
        let output = configuration.output
        if output.heartbeatIntervalMilliseconds > 0 {
            next = min(next, until(lastHeartbeatAt + UInt64(output.heartbeatIntervalMilliseconds)))
        }
        if let model, lastCentersVersion != model.batches {
            next = min(next, until(lastCentersAt + UInt64(output.centersIntervalMilliseconds)))
        }
        if modelUnpublished {
            next = min(next, until(lastModelAt + UInt64(configuration.cluster.modelIntervalMilliseconds)))
        }
        if workerLink != nil, !held.isEmpty, sequence - acknowledged < UInt64(configuration.cluster.window) {
            next = min(next, until(heldAt + UInt64(configuration.cluster.epochMilliseconds)))
        }
        return next
    }

    // MARK: - Batches

    /// Applies one closed batch (or gathers it for the warm-up) and returns its buffers to the
    /// ingest thread. Internal so a test can drive the loop's batch path on its own thread.
    func process(_ inbound: inout InboundBatch) {
        // Taken out of `inbound` so this is its only reference: clearing it for reuse then
        // keeps its capacity instead of copying it.
        var batch = VectorBatch()
        swap(&batch, &inbound.vectors)
        defer {
            batch.removeAll()
            _ = recycled.tryPush(batch)
        }
        guard let d = batch.dimension, batch.count > 0 else { return }
        if let expected = dimension, expected != d {
            statistics.drop(WireError.Reason.dimensionMismatch.rawValue, messages: UInt64(inbound.messages),
                            vectors: UInt64(batch.count))
            return
        }
        dimension = d
        if model == nil {
            let before = warmup.count / d
            if batch.isWeighted || !warmupWeights.isEmpty {
                warmupWeights.append(contentsOf: repeatElement(1, count: before - warmupWeights.count))
                if batch.isWeighted {
                    warmupWeights.append(contentsOf: batch.weights)
                } else {
                    warmupWeights.append(contentsOf: repeatElement(1, count: batch.count))
                }
            }
            warmup.append(contentsOf: batch.values)
            warmupIDs.append(contentsOf: batch.ids)
            let collected = warmup.count / d
            shared.warmup(collected: collected, needed: configuration.warmupVectors)
            guard collected >= configuration.warmupVectors else { return }
            seed(dimension: d)
            if workerLink != nil {
                propose()
                return
            }
            // The warm-up vectors are data too: train on them in batches of the configured size.
            let (rows, ids, weights) = takeWarmup()
            let size = configuration.input.batchSize
            var start = 0
            while start < collected {
                let end = min(start + size, collected)
                rows.withUnsafeBufferPointer { all in
                    let slice = UnsafeBufferPointer(rebasing: all[(start * d)..<(end * d)])
                    weights.withUnsafeBufferPointer { w in
                        let ws = w.isEmpty ? nil : UnsafeBufferPointer(rebasing: w[start..<end])
                        train(rows: slice, count: end - start, weights: ws, ids: ids, firstID: start)
                    }
                }
                start = end
            }
            return
        }
        batch.values.withUnsafeBufferPointer { rows in
            batch.weights.withUnsafeBufferPointer { w in
                train(rows: rows, count: batch.count, weights: w.isEmpty ? nil : w, ids: batch.ids, firstID: 0)
            }
        }
    }

    private func seed(dimension d: Int) {
        let n = warmup.count / d
        let c = configuration
        if var given = initialCenters {
            // Cosine: the operator's centers are directions; calibrate the temperature on them as
            // the model will hold them.
            if c.model.metric == .cosine {
                given.withUnsafeMutableBufferPointer { g in
                    for j in 0..<c.model.k { Metric.normalize(rows: g.baseAddress! + j * d, count: 1, dimension: d) }
                }
            }
            // The operator's centers; the warm-up only calibrates the automatic temperature.
            let schedule = c.fixedSchedule ?? warmup.withUnsafeBufferPointer { rows in
                let t0 = Seeding.automaticTemperature(rows: rows, count: n, dimension: d, centers: given, k: c.model.k,
                                                      heat: c.temperature.heat, loop: dispatch)
                return TemperatureSchedule(kind: c.temperature.schedule, initial: t0, floor: Seeding.floor(t0, ratio: c.temperature.floorRatio), halfLife: c.temperatureHalfLife)
            }
            let state = ModelState(centers: given, k: c.model.k, dimension: d, schedule: schedule,
                                   random: RandomSource(seed: c.model.seed), epoch: UInt64(Clock.unixMilliseconds()),
                                   metric: c.model.metric)
            model = state
            logger.notice("model started from \(c.model.initialCenters): k = \(c.model.k), dimension = \(d), T₀ = \(schedule.initial)")
            emitEvent("seeded", ["vectors": .int(Int64(n)), "temperature": .double(schedule.initial), "from": .string("initial_centers")])
            return
        }
        let state = warmup.withUnsafeBufferPointer { rows in
            ModelState.seeded(
                warmup: rows, count: n, dimension: d, k: c.model.k, seed: c.model.seed, schedule: c.fixedSchedule,
                heat: c.temperature.heat, floorRatio: c.temperature.floorRatio, autoKind: c.temperature.schedule,
                autoHalfLife: c.temperatureHalfLife, epoch: UInt64(Clock.unixMilliseconds()), metric: c.model.metric,
                iterations: c.model.warmupIterations, seedings: c.model.warmupSeedings, loop: dispatch)
        }
        model = state
        logger.notice("model seeded by k-means++ from \(n) warm-up vectors: k = \(c.model.k), dimension = \(d), T₀ = \(state.schedule.initial), floor = \(state.schedule.floor)")
        emitEvent("seeded", ["vectors": .int(Int64(n)), "temperature": .double(state.schedule.initial),
                             "temperature_floor": .double(state.schedule.floor)])
    }

    private func train(rows: UnsafeBufferPointer<Float>, count: Int, weights: UnsafeBufferPointer<Float>?, ids: VectorIDs, firstID: Int) {
        guard model != nil else { return }
        if workerLink != nil {
            return contribute(rows: rows, count: count, weights: weights, ids: ids, firstID: firstID)
        }
        let started = Clock.monotonicNanoseconds()
        // Updated in place: a copy here would make the update copy the model's arrays.
        let report = updater.update(&model!, rows: rows, count: count, weights: weights, loop: dispatch)
        statistics.lastBatchMicroseconds.store((Clock.monotonicNanoseconds() - started) / 1000, ordering: .relaxed)
        let version = model!.batches
        shared.publish(model!, through: &spare)
        statistics.batches.add(1, ordering: .relaxed)
        statistics.vectorsAccepted.add(UInt64(count), ordering: .relaxed)
        statistics.temperatureBits.store(report.temperature.bitPattern, ordering: .relaxed)
        statistics.modelVersion.store(version, ordering: .relaxed)
        statistics.observe(report)
        if !updater.events.isEmpty { publishEvents(version: version) }
        if configuration.changes.enabled { publishChanges(version: version, meanSupport: report.meanSupportSize) }
        emitAssignments(count: count, ids: ids, firstID: firstID, version: version)
        if configuration.state.checkpointBatches > 0, version % UInt64(configuration.state.checkpointBatches) == 0 {
            checkpoint()
        }
    }

    // MARK: - Worker

    /// Offers the model just seeded from the warm-up to the coordinator and waits for the model
    /// the coordinator publishes: its own proposal, or another worker's that came first. The
    /// warm-up rows stay and are learned against that model when it arrives.
    private func propose() {
        guard let seeded = model, let link = workerLink else { return }
        model = nil
        awaitingModel = true
        awaitedBase = nil
        if !link.outgoing.tryPush(seeded.encoded()) {
            statistics.cluster.epochsDropped.add(1, ordering: .relaxed)
        }
    }

    /// Answers a coordinator that has no model (restarted without checkpoints) with this
    /// worker's copy of the last one it adopted, at most once a second; the coordinator takes
    /// the first copy offered and ignores the rest.
    private func offerModel(_ link: WorkerLink) {
        let now = Clock.monotonicMilliseconds()
        guard let model, !awaitingModel, model.batches > 0, now >= lastOfferAt + 1000 else { return }
        lastOfferAt = now
        if link.outgoing.tryPush(model.encoded()) {
            logger.notice("the coordinator has no model: offering this worker's copy of version \(model.batches) (epoch \(model.epoch))")
        }
    }

    /// Takes a model version the coordinator published, if it is newer than the one held (or of
    /// another model epoch: a coordinator that restarted). The clustering thread only; internal
    /// so a test can drive a worker's batch path on its own thread.
    func adopt(_ version: WorkerLink.Version) {
        let next = version.model
        // A new model epoch is a coordinator that restarted (from a checkpoint, or afresh): its
        // model's merged epochs say which of the copies it holds. Otherwise the copies its
        // checkpoint holds are done with.
        let restarted = model.map { $0.epoch != next.epoch } ?? false
        if !restarted, retention != nil {
            retention!.release(through: version.durable)
            statistics.cluster.retainedEpochs.store(UInt64(retention!.epochs), ordering: .relaxed)
        }
        // What the coordinator acknowledges opens the window, whether or not the model is new.
        // A restarted coordinator (a new model epoch) that does not list this incarnation has
        // no record of it: what was on its way went to its predecessor and is gone, and the
        // window opens. A version of the same run that does not list it says nothing of what
        // is on its way: it was made before that arrived, or it is the latest version sent
        // again to welcome another subscriber. Those epochs stay unacknowledged until a version
        // lists them (or cluster.ack_timeout_s takes them as lost).
        let previous = acknowledged
        if let listed = version.acknowledged {
            acknowledged = max(acknowledged, listed)
        } else if restarted || model == nil {
            acknowledged = sequence
        }
        if acknowledged != previous { acknowledgedAt = Clock.monotonicMilliseconds() }
        statistics.cluster.unacknowledged.store(sequence - acknowledged, ordering: .relaxed)
        if let current = model, current.epoch == next.epoch, next.batches <= current.batches {
            statistics.cluster.modelsOutdated.add(1, ordering: .relaxed)
            send()
            return
        }
        if let d = dimension, d != next.dimension {
            statistics.cluster.modelsRefused.add(1, ordering: .relaxed)
            logger.warning("model from the coordinator refused: dimension \(next.dimension), the vectors here have \(d)")
            return
        }
        let first = model == nil
        if !held.isEmpty, let current = model, current.lineage != next.lineage {
            // A model seeded anew (a coordinator that lost its checkpoints): its center j is not
            // this one's, so sums learned against this one would pull the wrong clusters.
            statistics.cluster.epochsDropped.add(1, ordering: .relaxed)
            statistics.cluster.vectorsDropped.add(UInt64(held.vectors), ordering: .relaxed)
            logger.warning("\(held.vectors) vectors learned against a model of lineage \(current.lineage) dropped: the coordinator's model was seeded anew (lineage \(next.lineage))")
            held.reset(baseVersion: next.batches)
            statistics.cluster.heldVectors.store(0, ordering: .relaxed)
        }
        if !held.isEmpty, configuration.cluster.staleness > 0, next.batches > heldSince + UInt64(configuration.cluster.staleness) {
            // Rebasing makes the sums exact for the new centers, but the responsibilities stay
            // those of the old ones: beyond the staleness bound (a long partition while others
            // moved the model on) they are dropped, and counted, as the coordinator would.
            statistics.cluster.epochsDropped.add(1, ordering: .relaxed)
            statistics.cluster.vectorsDropped.add(UInt64(held.vectors), ordering: .relaxed)
            logger.warning("\(held.vectors) vectors learned against version \(heldSince) dropped: the model is now at \(next.batches), more than cluster.staleness = \(configuration.cluster.staleness) versions on")
            held.reset(baseVersion: next.batches)
            statistics.cluster.heldVectors.store(0, ordering: .relaxed)
        }
        if let current = model, !held.isEmpty {
            // Exact for the sums: Σ w r (x − c_new) = Σ w r (x − c_old) + mass·(c_old − c_new).
            current.centers.withUnsafeBufferPointer { old in
                next.centers.withUnsafeBufferPointer { held.rebase(to: next.batches, from: old, onto: $0) }
            }
        } else {
            held.reset(baseVersion: next.batches)
        }
        if restarted, let current = model, retention?.isEmpty == false {
            if next.lineage == current.lineage, let taken = resend(after: version.merged, onto: next) {
                logger.notice("the coordinator came back under model epoch \(next.epoch) without \(taken.epochs) epoch(s) this worker sent (\(taken.vectors) vectors): sending them again")
            } else if next.lineage != current.lineage {
                // Another model's centers: these sums belong to clusters it does not have.
                let epochs = retention!.epochs, vectors = retention!.vectors
                retention!.release(through: .max)
                statistics.cluster.retainedEpochs.store(0, ordering: .relaxed)
                statistics.cluster.epochsUnretained.add(UInt64(epochs), ordering: .relaxed)
                statistics.cluster.vectorsUnretained.add(UInt64(vectors), ordering: .relaxed)
                logger.warning("the coordinator came back with a model seeded anew (lineage \(next.lineage), was \(current.lineage)): \(epochs) epoch(s) this worker sent (\(vectors) vectors) are not sent again")
            }
        }
        if first { model = next.detached() } else { model!.assign(from: next) }
        dimension = next.dimension
        shared.publish(model!, through: &spare)
        statistics.modelVersion.store(next.batches, ordering: .relaxed)
        statistics.temperatureBits.store(next.temperature.bitPattern, ordering: .relaxed)
        let cluster = statistics.cluster
        cluster.modelsAdopted.add(1, ordering: .relaxed)
        cluster.epochsOnCurrentModel.store(0, ordering: .relaxed)
        cluster.adoptedAtMilliseconds.store(Clock.monotonicMilliseconds(), ordering: .relaxed)
        if awaitingModel {
            if let awaited = awaitedBase {
                if next.epoch != awaited.epoch || next.batches > awaited.version {
                    awaitingModel = false
                    awaitedBase = nil
                }
            } else {
                awaitingModel = false
            }
        }
        if first {
            logger.notice("model adopted from the coordinator: epoch \(next.epoch), version \(next.batches), k = \(next.k), dimension = \(next.dimension)")
            emitEvent("adopted", ["model_version": .int(Int64(next.batches)), "model_epoch": .int(Int64(bitPattern: next.epoch))])
            learnWarmup()
        }
        send()
    }

    /// Adds the copies of the epochs sent after `merged` to the held statistics (already
    /// relative to `next`), to go out with the next epoch; nil when there were none.
    private func resend(after merged: UInt64, onto next: ModelState) -> (epochs: Int, vectors: Int)? {
        guard var kept = retention, !kept.isEmpty else { return nil }
        let wasEmpty = held.isEmpty
        let taken = next.centers.withUnsafeBufferPointer {
            kept.takeAll(after: merged, onto: $0, version: next.batches, into: &held)
        }
        retention = kept
        let cluster = statistics.cluster
        cluster.retainedEpochs.store(0, ordering: .relaxed)
        guard taken.epochs > 0 else { return nil }
        if wasEmpty {
            heldSince = next.batches
            heldAt = Clock.monotonicMilliseconds()
        }
        cluster.epochsResent.add(UInt64(taken.epochs), ordering: .relaxed)
        cluster.vectorsResent.add(UInt64(taken.vectors), ordering: .relaxed)
        cluster.heldVectors.store(UInt64(held.vectors), ordering: .relaxed)
        return taken
    }

    /// The gathered warm-up (rows, ids, weights), leaving it empty.
    private func takeWarmup() -> (rows: [Float], ids: VectorIDs, weights: [Float]) {
        defer {
            warmup = []
            warmupIDs = VectorIDs()
            warmupWeights = []
        }
        return (warmup, warmupIDs, warmupWeights)
    }

    /// The warm-up rows gathered before the first model arrived, as one batch against it.
    private func learnWarmup() {
        guard let d = dimension, !warmup.isEmpty else { return }
        let (rows, ids, weights) = takeWarmup()
        let n = rows.count / d
        rows.withUnsafeBufferPointer { r in
            weights.withUnsafeBufferPointer { w in
                contribute(rows: r, count: n, weights: w.isEmpty ? nil : w, ids: ids, firstID: 0)
            }
        }
    }

    /// A worker's batch: responsibilities against the model it holds, the batch's assignments
    /// published, and its statistics added to the held ones, which go to the coordinator as soon
    /// as fewer than `cluster.window` messages are on their way. The model does not change here.
    private func contribute(rows: UnsafeBufferPointer<Float>, count: Int, weights: UnsafeBufferPointer<Float>?, ids: VectorIDs, firstID: Int) {
        guard workerLink != nil, model != nil else { return }
        let started = Clock.monotonicNanoseconds()
        if held.isEmpty {
            heldSince = model!.batches
            heldAt = Clock.monotonicMilliseconds()
        }
        // The batch's sums go straight into the held ones (no k·d pass to merge them); its own
        // figures for the report are what it added.
        let before = (weight: held.weight, inertia: held.inertia, support: held.supportTotal, oneHot: held.oneHotRows)
        updater.computeStatistics(model!, rows: rows, count: count, weights: weights, loop: dispatch, into: &held, adding: true)
        var report = BatchReport()
        report.vectors = count
        report.weight = held.weight - before.weight
        report.inertia = held.inertia - before.inertia
        report.meanSupportSize = Double(held.supportTotal - before.support) / Double(max(1, count))
        report.oneHotRows = held.oneHotRows - before.oneHot
        report.temperature = model!.temperature
        report.modelVersion = model!.batches
        statistics.cluster.epochsOnCurrentModel.add(1, ordering: .relaxed)
        statistics.cluster.heldVectors.store(UInt64(held.vectors), ordering: .relaxed)
        statistics.lastBatchMicroseconds.store((Clock.monotonicNanoseconds() - started) / 1000, ordering: .relaxed)
        statistics.batches.add(1, ordering: .relaxed)
        statistics.vectorsAccepted.add(UInt64(count), ordering: .relaxed)
        statistics.observe(report)
        emitAssignments(count: count, ids: ids, firstID: firstID, version: model!.batches)
        send()
        if configuration.cluster.staleness == 0 {
            awaitingModel = true
            awaitedBase = (model!.epoch, model!.batches)
        }
    }

    /// Publishes the batch's assignments on the topics configured that some subscription
    /// covers. Encoding them costs a pass over the batch's supports and a copy of them (at d 64,
    /// k 64 a sixth of the daemon's processor time); a topic nobody receives is not encoded,
    /// and its sequence numbers do not advance, so a subscriber that joins sees no gap.
    private func emitAssignments(count: Int, ids: VectorIDs, firstID: Int, version: UInt64) {
        let output = configuration.output
        guard output.assignments || output.assignmentsJSON else { return }
        let binary = output.assignments && statistics.assignmentsBinaryWatched.load(ordering: .relaxed)
        let json = output.assignmentsJSON && statistics.assignmentsJSONWatched.load(ordering: .relaxed)
        guard binary || json else {
            statistics.assignmentsUnwatched.add(1, ordering: .relaxed)
            return
        }
        emitter.assignments(from: updater, count: count, k: model!.k, ids: ids, firstID: firstID, version: version,
                            binary: binary, json: json)
    }

    /// Sends the held statistics as the next epoch if the window allows. A message the link's
    /// queue cannot take is dropped and counted (with the window at most `cluster.window` and
    /// the queue `cluster.queue_epochs` long, only a link that stopped sending fills it).
    private func send(force: Bool = false) {
        guard let link = workerLink, let model, !held.isEmpty else { return }
        guard sequence - acknowledged < UInt64(configuration.cluster.window) else { return }
        let c = configuration.cluster
        // An epoch waits for enough vectors (cluster.epoch_vectors) or time (cluster.epoch_ms);
        // the synchronous mode sends every batch.
        guard force || c.staleness == 0 || held.vectors >= c.epochVectors(k: model.k)
            || Clock.monotonicMilliseconds() >= heldAt + UInt64(c.epochMilliseconds) else { return }
        sequence += 1
        if sequence - acknowledged == UInt64(configuration.cluster.window) { acknowledgedAt = Clock.monotonicMilliseconds() }
        var frame = link.spent.pop() ?? []
        StatisticsMessage.encode(held, origin: .init(worker: link.workerID, incarnation: link.incarnation, sequence: sequence,
                                                     modelEpoch: model.epoch), into: &frame)
        let vectors = held.vectors
        if retention == nil || retention!.capacity > 0 && !retention!.matches(held) {
            retention = EpochRetention(capacity: c.retainEpochs, k: held.k, dimension: held.dimension)
        }
        let released = model.centers.withUnsafeBufferPointer {
            retention!.retain(taking: &held, sequence: sequence, centers: $0, version: model.batches)
        }
        if released > 0 {
            statistics.cluster.epochsUnretained.add(1, ordering: .relaxed)
            statistics.cluster.vectorsUnretained.add(UInt64(released), ordering: .relaxed)
        }
        statistics.cluster.retainedEpochs.store(UInt64(retention!.epochs), ordering: .relaxed)
        held.reset(baseVersion: model.batches)
        statistics.cluster.heldVectors.store(0, ordering: .relaxed)
        statistics.cluster.unacknowledged.store(sequence - acknowledged, ordering: .relaxed)
        if !link.outgoing.tryPush(frame) {
            statistics.cluster.epochsDropped.add(1, ordering: .relaxed)
            statistics.cluster.vectorsDropped.add(UInt64(vectors), ordering: .relaxed)
        }
    }

    /// A window that stays closed for `cluster.ack_timeout_s`: the messages on their way are
    /// taken as lost (a connection dropped them), counted, and the window opens.
    private func checkWindow(now: UInt64) {
        guard workerLink != nil, sequence - acknowledged >= UInt64(configuration.cluster.window),
              now >= acknowledgedAt + UInt64(configuration.cluster.ackTimeoutSeconds * 1000) else { return }
        statistics.cluster.acknowledgementsTimedOut.add(sequence - acknowledged, ordering: .relaxed)
        logger.warning("no acknowledgement from the coordinator for \(configuration.cluster.ackTimeoutSeconds) s: epochs \(acknowledged + 1)…\(sequence) taken as lost")
        acknowledged = sequence
        acknowledgedAt = now
        statistics.cluster.unacknowledged.store(0, ordering: .relaxed)
        send()
    }

    // MARK: - Coordinator

    /// Starts merging onto `state` and publishes it to the workers; `onDisk`: it was restored
    /// from a checkpoint, so the epochs it holds are durable already.
    private func coordinate(_ state: ModelState, onDisk: Bool = false) {
        model = state.detached()
        dimension = state.dimension
        merger = StatisticsMerger(model: state, updater: updater, maxStaleness: configuration.cluster.staleness)
        // A restored model's epochs are on disk; a seed holds none, and a worker's copy holds
        // epochs no checkpoint has yet.
        checkpoints?.noteDurable(onDisk ? state.mergedEpochs : EpochLedger())
        shared.publish(model!, through: &spare)
        statistics.modelVersion.store(state.batches, ordering: .relaxed)
        statistics.temperatureBits.store(state.temperature.bitPattern, ordering: .relaxed)
        publishModel()
    }

    /// Publishes the model unless one went out less than `cluster.model_interval_ms` ago (the
    /// timers publish it then); the synchronous mode publishes at once.
    private func publishModelWhenDue(now: UInt64) {
        guard modelUnpublished else { return }
        let interval = configuration.cluster.staleness == 0 ? 0 : UInt64(configuration.cluster.modelIntervalMilliseconds)
        if now >= lastModelAt + interval { publishModel() }
    }

    /// Sends the model and the acknowledgements to the workers (``ModelMessage``).
    private func publishModel() {
        modelUnpublished = false
        lastModelAt = Clock.monotonicMilliseconds()
        guard let link = coordinatorLink, let model, let merger else { return }
        var acknowledgements: [UInt8] = []
        ModelMessage.encodeAcknowledgements(merger.received, into: &acknowledgements)
        var frames = [model.encoded(), acknowledgements]
        if let writer = checkpoints {
            var durable: [UInt8] = []
            ModelMessage.encodeAcknowledgements(writer.durableEpochs.positions, into: &durable)
            frames.append(durable)
        }
        link.publish(frames)
    }

    /// Takes every frame the workers sent, then applies what may be applied: everything
    /// pending, or under `cluster.staleness = 0` one step once `cluster.workers` workers have
    /// each sent the batch for the current version.
    private func receiveStatistics(_ link: CoordinatorLink) {
        link.incoming.acknowledge()
        var received = false
        while let frame = link.incoming.pop() {
            received = true
            receive(frame)
            _ = link.recycled.tryPush(frame)
        }
        guard let merger else { return }
        let synchronous = configuration.cluster.staleness == 0
        var steps = 0
        while merger.pendingEpochs > 0, !synchronous || merger.pendingWorkers >= configuration.cluster.workers {
            let started = Clock.monotonicNanoseconds()
            guard let report = merger.applyPending() else { break }
            stepped(report, started: started)
            steps += 1
        }
        // Frames that made no step (all dropped) are still acknowledged, or their senders'
        // windows would stay closed until cluster.ack_timeout_s.
        if received && steps == 0 && !synchronous { modelUnpublished = true }
        publishModelWhenDue(now: Clock.monotonicMilliseconds())
        if received {
            var workers: [UInt64: ClusterStatistics.WorkerStatus] = [:]
            for (id, v) in merger.workers {
                workers[id] = .init(incarnation: v.incarnation, lastSequence: v.lastSequence, staleness: v.staleness,
                                    vectorsMerged: v.vectorsMerged, lastHeardMilliseconds: workerHeard[id] ?? 0)
            }
            statistics.cluster.setCoordinator(counters: merger.counters, workers: workers)
        }
    }

    private static let modelMagic = Array("VORONOID".utf8)

    /// One frame from a worker: a seeding proposal or an epoch's statistics.
    private func receive(_ frame: [UInt8]) {
        let cluster = statistics.cluster
        if frame.starts(with: Self.modelMagic) { return considerProposal(frame) }
        guard let merger else {
            cluster.framesWithoutModel.add(1, ordering: .relaxed)
            // Statistics come from a worker that holds a model: this coordinator restarted
            // without checkpoints. It asks for a copy of its last model.
            let now = Clock.monotonicMilliseconds()
            if let link = coordinatorLink, now >= lastRequestAt + 1000 {
                lastRequestAt = now
                link.publish([ModelMessage.requestMagic])
            }
            return
        }
        let outcome = frame.withUnsafeBytes { merger.receive($0) }
        if outcome == .pending, frame.count >= 12 {
            let worker = frame.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt64.self)) }
            workerHeard[worker] = Clock.monotonicMilliseconds()
        }
    }

    /// A worker's seeded model: the model, under a model epoch of the coordinator's, when there
    /// is none yet; otherwise ignored, and the current model is published again so the proposer
    /// has it even if it subscribed late.
    private func considerProposal(_ frame: [UInt8]) {
        let cluster = statistics.cluster
        if model != nil {
            cluster.proposalsIgnored.add(1, ordering: .relaxed)
            publishModel()
            return
        }
        var state: ModelState
        do {
            state = try ModelState(encoded: frame)
        } catch {
            cluster.proposalsRefused.add(1, ordering: .relaxed)
            logger.warning("seeding proposal refused: \(error)")
            return
        }
        let c = configuration.model
        guard state.k == c.k, state.metric == c.metric, c.dimension == 0 || state.dimension == c.dimension else {
            cluster.proposalsRefused.add(1, ordering: .relaxed)
            logger.warning("seeding proposal refused: k = \(state.k), dimension = \(state.dimension), metric = \(state.metric.rawValue); the coordinator has model.k = \(c.k), model.dimension = \(c.dimension), model.metric = \(c.metric.rawValue)")
            return
        }
        state.epoch = max(UInt64(Clock.unixMilliseconds()), state.epoch &+ 1)
        if state.batches == 0 {
            // A seed: a model of its own lineage.
            state.lineage = state.epoch
            coordinate(state)
            logger.notice("model seeded from a worker's proposal: k = \(state.k), dimension = \(state.dimension), epoch \(state.epoch), T₀ = \(state.schedule.initial)")
            emitEvent("seeded", ["vectors": .int(0), "temperature": .double(state.schedule.initial), "from": .string("worker")])
        } else {
            // A worker's copy of a model this cluster learned (this coordinator asked for it):
            // the same lineage, and its merged epochs say which statistics it holds.
            coordinate(state)
            logger.notice("model continued from a worker's copy: version \(state.batches), \(state.vectorsSeen) vectors seen, epoch \(state.epoch), lineage \(state.lineage)")
            emitEvent("seeded", ["vectors": .int(0), "temperature": .double(state.temperature), "from": .string("worker_copy"),
                                 "model_version": .int(Int64(state.batches))])
        }
    }

    /// What follows a merged step: as after a single daemon's batch, without assignments
    /// (the workers publish those), plus the new version for the workers.
    private func stepped(_ report: BatchReport, started: UInt64) {
        guard let merger, model != nil else { return }
        model!.assign(from: merger.model)
        statistics.lastBatchMicroseconds.store((Clock.monotonicNanoseconds() - started) / 1000, ordering: .relaxed)
        let version = model!.batches
        shared.publish(model!, through: &spare)
        statistics.batches.add(1, ordering: .relaxed)
        statistics.vectorsAccepted.add(UInt64(report.vectors), ordering: .relaxed)
        statistics.temperatureBits.store(report.temperature.bitPattern, ordering: .relaxed)
        statistics.modelVersion.store(version, ordering: .relaxed)
        statistics.observe(report)
        modelUnpublished = true
        if !updater.events.isEmpty { publishEvents(version: version) }
        if configuration.changes.enabled { publishChanges(version: version, meanSupport: report.meanSupportSize) }
        if configuration.state.checkpointBatches > 0, version % UInt64(configuration.state.checkpointBatches) == 0 {
            checkpoint()
        }
    }

    /// Publishes what the last batch did to the clusters (Protocol.md, "events").
    private func publishEvents(version: UInt64) {
        guard let model else { return }
        let v = WireScalar.int(Int64(version))
        for event in updater.events {
            let center = WireScalar.int(Int64(event.center))
            switch event.kind {
            case .reseeded:
                emitEvent("reseed", ["center": center, "count": .double(event.count), "model_version": v])
                // In lifecycle terms a re-seed is a death (the center won almost nothing over its
                // window) and a birth where the model explains the data worst.
                emitEvent("death", ["center": center, "count": .double(event.count), "model_version": v,
                                    "statistic": .string("received_mass"), "threshold": .double(0.5)])
                emitEvent("birth", ["center": center, "model_version": v, "location": .string(coordinates(model, event.center))])
            case .separated:
                let fields: [String: WireScalar] = ["center": center, "other": .int(Int64(event.other)),
                                                    "count": .double(event.count), "model_version": v]
                emitEvent("separate", fields)
                // Two centers that coincide have merged; nudged apart they split again, as at a
                // phase transition of deterministic annealing.
                emitEvent("merge", fields.merging(["statistic": .string("squared_distance_over_error"),
                                                   "threshold": .double(configuration.update.separationTolerance)]) { $1 })
                emitEvent("split", fields)
            case .driftWarning, .drift:
                emitEvent(event.kind == .drift ? "drift" : "drift_warning",
                          ["model_version": v, "statistic": .string("page_hinkley_log_error"),
                           "value": .double(event.value), "threshold": .double(event.threshold),
                           "error_per_vector": .double(statistics.currentQuality.inertiaPerVector)])
            case .reseededOnDrift:
                emitEvent("death", ["center": center, "count": .double(event.count), "model_version": v,
                                    "statistic": .string("drift_reseed_error"), "value": .double(event.value),
                                    "threshold": .double(event.threshold)])
                emitEvent("birth", ["center": center, "model_version": v, "location": .string(coordinates(model, event.center))])
            case .reheated:
                emitEvent("reheat", ["model_version": v, "temperature_before": .double(event.value),
                                     "temperature": .double(event.threshold)])
            }
        }
    }

    /// Publishes per-cluster changes (Protocol.md, "change"). A center is judged once it has seen
    /// 16 dead-center windows since it was seeded, so its own convergence is not news (after 4,
    /// spreads were still falling 1.5× from the errors of the first batches), and only
    /// while assignments are nearly hard (as for the drift test): while vectors are shared the
    /// centers move with the temperature, so references are taken afresh once it has cooled.
    private func publishChanges(version: UInt64, meanSupport: Double) {
        guard let model else { return }
        guard meanSupport <= MiniBatchUpdater.driftSupportLimit else {
            monitor.forget()
            return
        }
        let settle = UInt64(16 * configuration.model.deadCenterWindow * Double(model.k))
        monitor.check(model, settle: settle)
        guard !monitor.changes.isEmpty else { return }
        let v = WireScalar.int(Int64(version))
        for change in monitor.changes {
            emitEvent("change", ["center": .int(Int64(change.center)), "kind": .string(change.kind.rawValue),
                                 "before": .double(change.before), "value": .double(change.after),
                                 "threshold": .double(change.threshold), "model_version": v])
        }
    }

    /// A center's coordinates as text, for events (the first 16 components).
    private func coordinates(_ state: ModelState, _ j: Int) -> String {
        let d = state.dimension
        let shown = min(d, 16)
        var text = "["
        for t in 0..<shown {
            if t > 0 { text += "," }
            text += "\(state.centers[j * d + t])"
        }
        return text + (shown < d ? ",…]" : "]")
    }

    // MARK: - Timers

    private func timers(now: UInt64, force: Bool) {
        checkWindow(now: now)
        send(force: force)
        if force && modelUnpublished { publishModel() } else { publishModelWhenDue(now: now) }
        let output = configuration.output
        if let model, model.batches != lastCentersVersion,
           force || now >= lastCentersAt + UInt64(output.centersIntervalMilliseconds) {
            emitter.centers(model, json: output.centersJSON)
            lastCentersAt = now
            lastCentersVersion = model.batches
        }
        if output.heartbeatIntervalMilliseconds > 0,
           force || now >= lastHeartbeatAt + UInt64(output.heartbeatIntervalMilliseconds) {
            lastHeartbeatAt = now
            emitter.heartbeat(model: model)
        }
        let interval = configuration.state.checkpointIntervalSeconds
        if checkpoints != nil, let model, model.batches != lastCheckpointVersion,
           force || (interval > 0 && now >= lastCheckpointAt + UInt64(interval * 1000)) {
            checkpoint()
        }
    }

    /// Hands the model to the checkpoint writer: a copy-on-write reference, so the next update
    /// copies the arrays once (per checkpoint, not per batch).
    private func checkpoint() {
        guard let writer = checkpoints, let model else { return }
        lastCheckpointAt = Clock.monotonicMilliseconds()
        lastCheckpointVersion = model.batches
        writer.submit(model)
    }

    private func emitEvent(_ name: String, _ fields: [String: WireScalar]) {
        emitter.event(name, fields)
    }
}

extension ClusteringLoop: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .clustering }
    func start() throws(StartupFailure) {}
}
