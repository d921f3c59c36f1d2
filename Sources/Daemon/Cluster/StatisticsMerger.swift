import Clustering

/// The coordinator's model owner without its sockets: admits workers' epochs, drops what must
/// not be merged, and applies what arrived as one step.
///
/// An epoch is dropped, and counted, when its frame is malformed or impossible
/// (``StatisticsMessage/DecodeError``), when it belongs to another model epoch, when the
/// ``EpochLedger`` has merged it (or a later one) already, or when its base version is more
/// than ``maxStaleness`` versions behind the model (its responsibilities are too old to
/// trust). Everything else is rebased onto the current centers when it arrives; ``applyPending()``
/// merges the pending epochs in (worker, incarnation, sequence) order, so the result does not
/// depend on the order they arrived in, and applies them as one step: forgetting and the
/// schedule advance once, by the merged weight.
///
/// Not thread-safe: the coordinator's model-owner thread alone calls it.
final class StatisticsMerger {
    /// What happened to one received frame.
    enum Outcome: Equatable {
        case pending
        case duplicate
        case superseded
        case stale(versionsBehind: UInt64)
        case foreignEpoch
        case refused(StatisticsMessage.DecodeError.Reason)
    }

    /// Counters for `stats` and `/metrics`.
    struct Counters: Equatable {
        var epochsMerged: UInt64 = 0
        var duplicatesDropped: UInt64 = 0
        var supersededDropped: UInt64 = 0
        var staleDropped: UInt64 = 0
        var foreignEpochDropped: UInt64 = 0
        var refused: [StatisticsMessage.DecodeError.Reason: UInt64] = [:]
        /// Epochs a worker numbered but the coordinator never received.
        var epochsMissed: UInt64 = 0
        var stepsApplied: UInt64 = 0
    }

    /// One worker as the coordinator last heard of it.
    struct WorkerView: Equatable {
        var incarnation: UInt64
        var lastSequence: UInt64
        /// The model version its last epoch was computed against.
        var lastBaseVersion: UInt64
        /// How many versions behind the model that was when it arrived.
        var staleness: UInt64
        /// Vectors in all its epochs admitted so far (every incarnation).
        var vectorsMerged: UInt64 = 0
    }

    private(set) var model: ModelState
    let updater: MiniBatchUpdater
    /// Epochs whose base version is further behind than this are dropped.
    let maxStaleness: Int
    private(set) var ledger: EpochLedger
    private(set) var counters = Counters()
    private(set) var workers: [UInt64: WorkerView] = [:]
    /// The newest epoch decoded from each worker, merged or dropped: what the coordinator
    /// acknowledges, so a worker knows which of its epochs are still on their way.
    private(set) var received: [UInt64: EpochLedger.Position] = [:]

    /// Centers of the last `maxStaleness + 1` versions, to rebase stale epochs from.
    private var history: [(version: UInt64, centers: [Float])]
    private var decoded: SufficientStatistics
    /// A pool of epoch buffers; the first `pendingCount` hold pending epochs.
    private var pool: [(key: (UInt64, UInt64, UInt64), statistics: SufficientStatistics)] = []
    private var pendingCount = 0
    private var merged: SufficientStatistics

    /// - Parameters:
    ///   - model: where merging starts; its ``ModelState/mergedEpochs`` (a restored checkpoint's)
    ///     seed the ledger, so an epoch the model holds is never merged again.
    ///   - maxStaleness: versions an epoch's base may lag the model (0: only epochs computed
    ///     against the current version are merged, the synchronous mode).
    init(model: ModelState, updater: MiniBatchUpdater, maxStaleness: Int) {
        precondition(maxStaleness >= 0, "maxStaleness must be ≥ 0")
        self.model = model
        self.updater = updater
        self.maxStaleness = maxStaleness
        self.ledger = model.mergedEpochs
        history = [(model.batches, model.centers)]
        decoded = SufficientStatistics(k: model.k, dimension: model.dimension)
        merged = SufficientStatistics(k: model.k, dimension: model.dimension)
    }

    /// Changes the model outside a step (a reloaded schedule); epochs already pending stay
    /// relative to its version, so `body` must not change the centers or the version.
    func modifyModel(_ body: (inout ModelState) -> Void) {
        let version = model.batches
        body(&model)
        precondition(model.batches == version, "modifyModel must not change the model's version")
    }

    /// Epochs waiting for ``applyPending()``.
    var pendingEpochs: Int { pendingCount }

    /// Distinct workers among the pending epochs (the synchronous mode applies once every
    /// expected worker has contributed).
    var pendingWorkers: Int {
        var n = 0
        for i in 0..<pendingCount where !(0..<i).contains(where: { pool[$0].key.0 == pool[i].key.0 }) { n += 1 }
        return n
    }

    /// Decodes, checks and queues one frame from a worker.
    func receive(_ frame: UnsafeRawBufferPointer) -> Outcome {
        let origin: StatisticsMessage.Origin
        do {
            origin = try StatisticsMessage.decode(frame, into: &decoded)
        } catch {
            counters.refused[error.reason, default: 0] += 1
            return .refused(error.reason)
        }
        if let known = received[origin.worker], known.incarnation > origin.incarnation
            || (known.incarnation == origin.incarnation && known.sequence >= origin.sequence) {
            // Older than one already acknowledged: nothing to record.
        } else {
            received[origin.worker] = EpochLedger.Position(incarnation: origin.incarnation, sequence: origin.sequence)
        }
        guard origin.modelEpoch == model.epoch else {
            counters.foreignEpochDropped += 1
            return .foreignEpoch
        }
        let current = model.batches
        let base = decoded.baseVersion
        guard base <= current, let baseCenters = history.first(where: { $0.version == base })?.centers,
              current - base <= UInt64(maxStaleness) else {
            counters.staleDropped += 1
            return .stale(versionsBehind: base <= current ? current - base : 0)
        }
        if implausible(decoded, base: baseCenters) {
            counters.refused[.invalid, default: 0] += 1
            return .refused(.invalid)
        }
        Self.dropNegligibleMasses(&decoded)
        switch ledger.admit(worker: origin.worker, incarnation: origin.incarnation, sequence: origin.sequence) {
        case .duplicate:
            counters.duplicatesDropped += 1
            return .duplicate
        case .superseded:
            counters.supersededDropped += 1
            return .superseded
        case .fresh(let missed):
            // Saturating: a sequence number is the sender's word, up to 2⁶⁴ − 1.
            let (sum, overflow) = counters.epochsMissed.addingReportingOverflow(missed)
            counters.epochsMissed = overflow ? .max : sum
        }
        workers[origin.worker] = WorkerView(incarnation: origin.incarnation, lastSequence: origin.sequence,
                                            lastBaseVersion: base, staleness: current - base,
                                            vectorsMerged: (workers[origin.worker]?.vectorsMerged ?? 0) &+ UInt64(decoded.vectors))
        if base != current {
            baseCenters.withUnsafeBufferPointer { b in
                model.centers.withUnsafeBufferPointer { decoded.rebase(to: current, from: b, onto: $0) }
            }
        }
        if pendingCount == pool.count {
            pool.append(((0, 0, 0), SufficientStatistics(k: model.k, dimension: model.dimension)))
        }
        pool[pendingCount].key = (origin.worker, origin.incarnation, origin.sequence)
        swap(&pool[pendingCount].statistics, &decoded)
        pendingCount += 1
        return .pending
    }

    /// Merges the pending epochs in (worker, incarnation, sequence) order and applies them as
    /// one step; nil when none is pending.
    func applyPending() -> BatchReport? {
        guard pendingCount > 0 else { return nil }
        // Insertion sort: a handful of epochs, and no allocation.
        for i in 1..<max(1, pendingCount) {
            var j = i
            while j > 0 && pool[j - 1].key > pool[j].key {
                pool.swapAt(j - 1, j)
                j -= 1
            }
        }
        let report: BatchReport
        if pendingCount == 1 {
            // One epoch (the usual case: workers' epochs seldom arrive together) is applied as
            // it is: summing it onto zeros would give the same values, after two passes over k·d.
            report = updater.apply(pool[0].statistics, to: &model)
        } else {
            merged.reset(baseVersion: model.batches)
            for i in 0..<pendingCount { merged.merge(pool[i].statistics) }
            report = updater.apply(merged, to: &model)
        }
        counters.epochsMerged += UInt64(pendingCount)
        pendingCount = 0
        // Every admitted epoch was pending, so the ledger now names exactly what the model holds.
        model.mergedEpochs = ledger
        counters.stepsApplied += 1
        remember()
        return report
    }

    /// The magnitude no vector reaches (``WireLimits/maxAbsoluteValue``, 2⁴⁰; a test checks the
    /// two agree: the merge is compiled without the wire module for fuzzing).
    static let rowLimit: Double = 0x1p40

    /// Whether `s` cannot come from rows the daemon accepts, given the centers it was computed
    /// against: finite sums that are still impossible, which would otherwise move a center by
    /// more than any vector could and poison the model (found by fuzzing: a delta of 10³⁸ on a
    /// mass of 1 made a center infinite).
    ///
    /// Each center's responsibility-weighted mean of the rows, `c_k + delta_k / mass_k`, is a
    /// convex combination of vectors below ``rowLimit`` (allowed: 4 × the limit, for rounding);
    /// a center with no mass has no delta; there is at least one row; the weight is at most the
    /// largest sample weight per row, and the error at most that of the farthest two vectors.
    private func implausible(_ s: SufficientStatistics, base: [Float]) -> Bool {
        let k = s.k, d = s.dimension
        // A worker never sends an epoch without rows; merged, one would make a step that moves nothing.
        guard s.vectors > 0 else { return true }
        let rows = Double(s.vectors)
        guard s.weight <= rows * Double(Float.greatestFiniteMagnitude) else { return true }
        let farthest = Double(d) * (2 * Self.rowLimit) * (2 * Self.rowLimit)
        guard s.inertia <= s.weight * farthest else { return true }
        let bound = 4 * Self.rowLimit
        return s.mass.withUnsafeBufferPointer { mass in
            s.delta.withUnsafeBufferPointer { delta in
                base.withUnsafeBufferPointer { c in
                    // One branch per center and none per coordinate, so the loops vectorise: this
                    // runs over k·d values for every epoch a coordinator merges.
                    for j in 0..<k {
                        let m = mass[j]
                        var outside: UInt8 = 0
                        if m > 0 {
                            let inverse = 1 / m
                            for t in (j * d)..<(j * d + d) {
                                // Written so a NaN counts as outside.
                                outside |= abs(Double(c[t]) + Double(delta[t]) * inverse) <= bound ? 0 : 1
                            }
                        } else {
                            for t in (j * d)..<(j * d + d) { outside |= delta[t] != 0 ? 1 : 0 }
                        }
                        if outside != 0 { return true }
                    }
                    return false
                }
            }
        }
    }

    /// Masses below this are taken as none (with their deltas): a center whose count is that
    /// small would move at the rate 1/N, which float32 cannot hold (found by fuzzing: a mass of
    /// 10⁻²⁷⁰ on a center that had none made it NaN). Real rows give no such masses but through
    /// denormal responsibilities, whose pull on a center is nil anyway.
    static let negligibleMass = 1e-30

    private static func dropNegligibleMasses(_ s: inout SufficientStatistics) {
        let k = s.k, d = s.dimension
        for j in 0..<k where s.mass[j] > 0 && s.mass[j] < negligibleMass {
            s.mass[j] = 0
            for t in (j * d)..<(j * d + d) { s.delta[t] = 0 }
        }
    }

    /// Keeps the new version's centers for rebasing, overwriting the oldest beyond the bound.
    private func remember() {
        if history.count <= maxStaleness {
            history.append((model.batches, model.centers))
            // Its own storage, so the next step's write does not copy.
            history[history.count - 1].centers.withUnsafeMutableBufferPointer { _ in }
            return
        }
        var oldest = 0
        for i in history.indices where history[i].version < history[oldest].version { oldest = i }
        history[oldest].version = model.batches
        history[oldest].centers.withUnsafeMutableBufferPointer { dst in
            model.centers.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
    }
}
