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
    private let dispatch: DispatchLoop
    let emitter: Emitter
    /// The owner's half of the shared model's double buffer.
    private var spare: ModelState?
    private var lastCentersAt: UInt64 = 0
    private var lastCentersVersion: UInt64 = .max
    private var lastHeartbeatAt: UInt64 = 0
    private var lastCheckpointAt: UInt64 = 0
    private var lastCheckpointVersion: UInt64 = .max
    private let encodeLimiter: DropLogLimiter

    init(configuration: DaemonConfiguration, statistics: Statistics, batches: BoundedQueue<InboundBatch>,
         recycled: BoundedQueue<VectorBatch>, outbound: BoundedQueue<Outbound>, spent: BoundedQueue<WireMessage>,
         shared: SharedModel,
         stop: EventFD, logger: Logger, startEpoch: UInt64, restored: ModelState?, checkpoints: CheckpointWriter?,
         health: LoopHealth, initialCenters: (centers: [Float], dimension: Int)? = nil) {
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
        self.dispatch = DispatchLoop(width: configuration.model.threads)
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
            batches.acknowledge()
            while var batch = batches.pop() {
                process(&batch)
                health.beat(.clustering)
            }
            timers(now: Clock.monotonicMilliseconds(), force: false)
            // The ingest thread flushes its open batch before it exits; once stop is signalled
            // and the queue is empty there is nothing more to come.
            if stopping && batches.count == 0 { break }
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
            // The warm-up vectors are data too: train on them in batches of the configured size.
            let rows = warmup
            let ids = warmupIDs
            let weights = warmupWeights
            warmup = []
            warmupIDs = VectorIDs()
            warmupWeights = []
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
                let t0 = Seeding.automaticTemperature(rows: rows, count: n, dimension: d, centers: given, k: c.model.k, heat: c.temperature.heat)
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
                iterations: c.model.warmupIterations, seedings: c.model.warmupSeedings)
        }
        model = state
        logger.notice("model seeded by k-means++ from \(n) warm-up vectors: k = \(c.model.k), dimension = \(d), T₀ = \(state.schedule.initial), floor = \(state.schedule.floor)")
        emitEvent("seeded", ["vectors": .int(Int64(n)), "temperature": .double(state.schedule.initial),
                             "temperature_floor": .double(state.schedule.floor)])
    }

    private func train(rows: UnsafeBufferPointer<Float>, count: Int, weights: UnsafeBufferPointer<Float>?, ids: VectorIDs, firstID: Int) {
        guard model != nil else { return }
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
        let output = configuration.output
        if output.assignments || output.assignmentsJSON {
            emitter.assignments(from: updater, count: count, k: model!.k, ids: ids, firstID: firstID, version: version,
                                binary: output.assignments, json: output.assignmentsJSON)
        }
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
