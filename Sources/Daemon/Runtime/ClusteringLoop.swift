import Glibc
import Clustering
import Logging
import Transport
import Synchronization
import Wire

/// An outbound message for the publish thread.
struct Outbound: Sendable {
    enum Kind: Sendable { case centers, other }
    var kind: Kind
    var message: WireMessage
}

/// The clustering thread: the one owner of the model. Takes closed batches, seeds the model
/// from the warm-up, applies updates, and produces assignments, centers, heartbeats, events and
/// checkpoints.
// SAFETY: every mutable field is touched only by the clustering thread, inside `run()`;
// other threads reach this object only through the Sendable queues, `SharedModel` and the
// reload mailbox (a Mutex).
final class ClusteringLoop: @unchecked Sendable {
    private(set) var configuration: DaemonConfiguration
    private let reloads = Mutex<DaemonConfiguration?>(nil)
    let statistics: Statistics
    let batches: BoundedQueue<InboundBatch>
    let recycled: BoundedQueue<VectorBatch>
    let outbound: BoundedQueue<Outbound>
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
    private var dimension: Int?
    private let updater: MiniBatchUpdater
    private let loop: DispatchLoop
    private var sequences: [String: UInt64] = [:]
    private var lastCentersAt: UInt64 = 0
    private var lastCentersVersion: UInt64 = .max
    private var lastHeartbeatAt: UInt64 = 0
    private var lastCheckpointAt: UInt64 = 0
    private var lastCheckpointVersion: UInt64 = .max
    private var assignments: Assignments
    private var message = WireMessage(reservingCapacity: 1 << 16)
    private let encodeLimiter: DropLogLimiter

    init(configuration: DaemonConfiguration, statistics: Statistics, batches: BoundedQueue<InboundBatch>,
         recycled: BoundedQueue<VectorBatch>, outbound: BoundedQueue<Outbound>, shared: SharedModel,
         stop: EventFD, logger: Logger, startEpoch: UInt64, restored: ModelState?, checkpoints: CheckpointWriter?,
         health: LoopHealth, initialCenters: (centers: [Float], dimension: Int)? = nil) {
        self.health = health
        self.initialCenters = initialCenters?.centers
        self.configuration = configuration
        self.statistics = statistics
        self.batches = batches
        self.recycled = recycled
        self.outbound = outbound
        self.shared = shared
        self.stop = stop
        self.logger = logger
        self.startEpoch = startEpoch
        self.checkpoints = checkpoints
        self.model = restored
        self.dimension = restored?.dimension ?? initialCenters?.dimension ?? (configuration.model.dimension > 0 ? configuration.model.dimension : nil)
        self.updater = MiniBatchUpdater(configuration: configuration.update)
        self.loop = DispatchLoop(width: configuration.model.threads)
        self.encodeLimiter = DropLogLimiter(intervalSeconds: configuration.log.dropIntervalSeconds, what: "outbound message not encoded")
        self.assignments = Assignments(k: configuration.model.k, startEpoch: startEpoch)
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
            while let batch = batches.pop() {
                process(batch)
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
        updater.configuration = next.update
        shared.setUpdate(next.update)
        encodeLimiter.setInterval(seconds: next.log.dropIntervalSeconds)
        guard var state = model else { return }
        var schedule = state.schedule
        schedule.kind = next.temperature.schedule
        schedule.halfLife = next.temperature.halfLife
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

    private func process(_ inbound: InboundBatch) {
        var batch = inbound.vectors
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
            warmup.append(contentsOf: batch.values)
            warmupIDs.append(contentsOf: batch.ids)
            let collected = warmup.count / d
            shared.warmup(collected: collected, needed: configuration.warmupVectors)
            guard collected >= configuration.warmupVectors else { return }
            seed(dimension: d)
            // The warm-up vectors are data too: train on them in batches of the configured size.
            let rows = warmup
            let ids = warmupIDs
            warmup = []
            warmupIDs = VectorIDs()
            let size = configuration.input.batchSize
            var start = 0
            while start < collected {
                let end = min(start + size, collected)
                rows.withUnsafeBufferPointer { all in
                    let slice = UnsafeBufferPointer(rebasing: all[(start * d)..<(end * d)])
                    train(rows: slice, count: end - start, ids: ids, firstID: start)
                }
                start = end
            }
            return
        }
        batch.values.withUnsafeBufferPointer { rows in
            train(rows: rows, count: batch.count, ids: batch.ids, firstID: 0)
        }
    }

    private func seed(dimension d: Int) {
        let n = warmup.count / d
        let c = configuration
        if let given = initialCenters {
            // The operator's centers; the warm-up only calibrates the automatic temperature.
            let schedule = c.fixedSchedule ?? warmup.withUnsafeBufferPointer { rows in
                let t0 = Seeding.automaticTemperature(rows: rows, count: n, dimension: d, centers: given, k: c.model.k, heat: c.temperature.heat)
                return TemperatureSchedule(kind: c.temperature.schedule, initial: t0, floor: Seeding.floor(t0, ratio: c.temperature.floorRatio), halfLife: c.temperature.halfLife)
            }
            let state = ModelState(centers: given, k: c.model.k, dimension: d, schedule: schedule,
                                   random: RandomSource(seed: c.model.seed), epoch: UInt64(Clock.unixMilliseconds()))
            model = state
            logger.notice("model started from \(c.model.initialCenters): k = \(c.model.k), dimension = \(d), T₀ = \(schedule.initial)")
            emitEvent("seeded", ["vectors": .int(Int64(n)), "temperature": .double(schedule.initial), "from": .string("initial_centers")])
            return
        }
        let state = warmup.withUnsafeBufferPointer { rows in
            ModelState.seeded(
                warmup: rows, count: n, dimension: d, k: c.model.k, seed: c.model.seed, schedule: c.fixedSchedule,
                heat: c.temperature.heat, floorRatio: c.temperature.floorRatio, autoKind: c.temperature.schedule,
                autoHalfLife: c.temperature.halfLife, epoch: UInt64(Clock.unixMilliseconds()))
        }
        model = state
        logger.notice("model seeded by k-means++ from \(n) warm-up vectors: k = \(c.model.k), dimension = \(d), T₀ = \(state.schedule.initial), floor = \(state.schedule.floor)")
        emitEvent("seeded", ["vectors": .int(Int64(n)), "temperature": .double(state.schedule.initial),
                             "temperature_floor": .double(state.schedule.floor)])
    }

    private func train(rows: UnsafeBufferPointer<Float>, count: Int, ids: VectorIDs, firstID: Int) {
        guard var state = model else { return }
        let started = Clock.monotonicNanoseconds()
        let report = updater.update(&state, rows: rows, count: count, loop: loop)
        statistics.lastBatchMicroseconds.store((Clock.monotonicNanoseconds() - started) / 1000, ordering: .relaxed)
        model = state
        shared.publish(state)
        statistics.batches.add(1, ordering: .relaxed)
        statistics.vectorsAccepted.add(UInt64(count), ordering: .relaxed)
        statistics.temperatureBits.store(report.temperature.bitPattern, ordering: .relaxed)
        statistics.modelVersion.store(state.batches, ordering: .relaxed)
        statistics.observe(report)
        for event in updater.events {
            var fields: [String: WireScalar] = ["center": .int(Int64(event.center)), "count": .double(event.count),
                                                "model_version": .int(Int64(state.batches))]
            if event.kind == .separated { fields["other"] = .int(Int64(event.other)) }
            emitEvent(event.kind == .reseeded ? "reseed" : "separate", fields)
        }
        if configuration.output.assignments || configuration.output.assignmentsJSON {
            publishAssignments(count: count, ids: ids, firstID: firstID, version: state.batches)
        }
        if configuration.state.checkpointBatches > 0,
           state.batches % UInt64(configuration.state.checkpointBatches) == 0 {
            checkpoint()
        }
    }

    private func publishAssignments(count: Int, ids: VectorIDs, firstID: Int, version: UInt64) {
        assignments.removeAll()
        assignments.k = model?.k ?? configuration.model.k
        assignments.startEpoch = startEpoch
        assignments.modelVersion = version
        // Filled column by column straight from the updater's buffers: no per-row arrays.
        assignments.best.reserveCapacity(count)
        assignments.distances.reserveCapacity(count)
        assignments.offsets.reserveCapacity(count + 1)
        for i in 0..<count {
            let support = updater.support(i)
            assignments.best.append(Int32(truncatingIfNeeded: updater.bestCenter(i)))
            assignments.distances.append(updater.squaredDistance(i))
            for e in 0..<support.indices.count {
                assignments.indices.append(UInt32(truncatingIfNeeded: support.indices[e]))
                assignments.weights.append(support.weights[e])
            }
            assignments.offsets.append(UInt32(truncatingIfNeeded: assignments.indices.count))
        }
        if ids.kind != .none {
            if firstID == 0 && ids.count == count {
                assignments.ids = ids
            } else {
                // These ids were validated when their message was decoded: appending cannot fail.
                for i in firstID..<min(firstID + count, ids.count) { try? assignments.ids.append(ids[i]) }
            }
        }
        if configuration.output.assignments {
            assignments.sequence = nextSequence(WireTopic.assignmentsBinary)
            var m = WireMessage(reservingCapacity: 64 + count * 32)
            assignments.encodeBinary(into: &m)
            send(Outbound(kind: .other, message: m))
        }
        if configuration.output.assignmentsJSON {
            assignments.sequence = nextSequence(WireTopic.assignmentsJSON)
            var m = WireMessage()
            encode(WireTopic.assignmentsJSON, into: &m) { (m) throws(WireError) in try assignments.encodeJSON(into: &m) }
        }
    }

    // MARK: - Timers

    private func timers(now: UInt64, force: Bool) {
        let output = configuration.output
        if let model, model.batches != lastCentersVersion,
           force || now >= lastCentersAt + UInt64(output.centersIntervalMilliseconds) {
            publishCenters(model)
            lastCentersAt = now
            lastCentersVersion = model.batches
        }
        if output.heartbeatIntervalMilliseconds > 0,
           force || now >= lastHeartbeatAt + UInt64(output.heartbeatIntervalMilliseconds) {
            lastHeartbeatAt = now
            let hb = Heartbeat(
                startEpoch: startEpoch, sequence: nextSequence(WireTopic.heartbeat),
                timeUnixMilliseconds: Clock.unixMilliseconds(),
                vectorsIn: statistics.vectorsIn.load(ordering: .relaxed),
                vectorsAccepted: statistics.vectorsAccepted.load(ordering: .relaxed),
                dropped: statistics.totalDropped, modelVersion: model?.batches ?? 0,
                temperature: model?.temperature ?? 0)
            var m = WireMessage()
            encode(WireTopic.heartbeat, into: &m) { (m) throws(WireError) in try hb.encodeJSON(into: &m) }
        }
        let interval = configuration.state.checkpointIntervalSeconds
        if checkpoints != nil, let model, model.batches != lastCheckpointVersion,
           force || (interval > 0 && now >= lastCheckpointAt + UInt64(interval * 1000)) {
            checkpoint()
        }
    }

    private func publishCenters(_ state: ModelState) {
        let snapshot = CentersSnapshot(
            k: state.k, dimension: state.dimension, startEpoch: startEpoch, sequence: nextSequence(WireTopic.centersBinary),
            modelEpoch: state.epoch, modelVersion: state.batches, temperature: state.temperature,
            centers: state.centers, counts: state.counts)
        var bin = WireMessage(reservingCapacity: 128 + state.centers.count * 4 + state.k * 8)
        snapshot.encodeBinary(into: &bin)
        send(Outbound(kind: .centers, message: bin))
        if configuration.output.centersJSON {
            var json = snapshot
            json.sequence = nextSequence(WireTopic.centersJSON)
            var m = WireMessage()
            encode(WireTopic.centersJSON, kind: .centers, into: &m) { (m) throws(WireError) in try json.encodeJSON(into: &m) }
        }
    }

    private func checkpoint() {
        guard let writer = checkpoints, let model else { return }
        lastCheckpointAt = Clock.monotonicMilliseconds()
        lastCheckpointVersion = model.batches
        writer.submit(model)
    }

    // MARK: - Output

    private func nextSequence(_ topic: String) -> UInt64 {
        let next = sequences[topic, default: 0] + 1
        sequences[topic] = next
        return next
    }

    private func emitEvent(_ name: String, _ fields: [String: WireScalar]) {
        let event = WireEvent(startEpoch: startEpoch, sequence: nextSequence(WireTopic.events),
                              timeUnixMilliseconds: Clock.unixMilliseconds(), event: name, fields: fields)
        var m = WireMessage()
        encode(WireTopic.events, into: &m) { (m) throws(WireError) in try event.encodeJSON(into: &m) }
        logger.info("event \(name) \(fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }

    /// Encodes one outbound message and queues it; a message that cannot be encoded (a field
    /// JSON cannot carry) is counted and logged, never sent half-made.
    private func encode(_ topic: String, kind: Outbound.Kind = .other, into m: inout WireMessage,
                        _ body: (inout WireMessage) throws(WireError) -> Void) {
        do {
            try body(&m)
            send(Outbound(kind: kind, message: m))
        } catch {
            statistics.encodeFailures.add(1, ordering: .relaxed)
            encodeLimiter.log(logger, reason: topic, detail: error.description)
        }
    }

    private func send(_ item: Outbound) {
        if !outbound.tryPush(item) {
            statistics.publishDropped.add(1, ordering: .relaxed)
        }
    }
}
