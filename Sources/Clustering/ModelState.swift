/// Everything that defines a clustering model at one moment: the checkpoint and the snapshot.
///
/// One owner mutates it (through ``MiniBatchUpdater``); everyone else receives copies. Its
/// binary form (``encoded()`` / ``init(encoded:)``) is versioned and checksummed.
public struct ModelState: Sendable, Equatable {
    /// Number of centers.
    public let k: Int
    /// Dimension of every vector.
    public let dimension: Int
    /// Centers, row-major: center `j` is `centers[j·dimension ..< (j+1)·dimension]`.
    public var centers: [Float]
    /// Soft counts `N_k`: the forgotten, responsibility-weighted mass each center has received.
    public var counts: [Double]
    /// The value of ``vectorsSeen`` when each center was last seeded or re-seeded.
    public var seededAt: [UInt64]
    /// Responsibility mass each center received recently, forgotten with the dead-center
    /// window; 1 at (re-)seeding (see ``UpdateConfiguration/DeadCenterRule/received``).
    public var received: [Double]
    /// Per center, the forgotten sum of `w · ‖x − c‖²` over the vectors it was nearest to, and
    /// their forgotten weight: their ratio is the cluster's spread (see ``spread(_:)``).
    public var spreadSums: [Double]
    public var spreadMass: [Double]
    /// The drift test on the per-vector quantisation error.
    public var drift = DriftDetector()
    /// The temperature schedule; its position is ``scheduleClock``.
    public var schedule: TemperatureSchedule
    /// Vectors applied so far.
    public var vectorsSeen: UInt64
    /// The temperature schedule's clock: it advances by each batch's total sample weight, so a
    /// vector of weight w advances it as w copies would (equal to ``vectorsSeen`` while every
    /// weight is 1), and moves back when the model is reheated after a drift.
    public var scheduleClock: Double
    /// Batches applied so far: the model version.
    public var batches: UInt64
    /// Incremented each time the model is seeded anew; together with ``batches`` it names a model.
    public var epoch: UInt64
    /// The ``epoch`` the model was seeded under. A model restored from a checkpoint and carried
    /// on under a new epoch keeps it, so two models with the same lineage have the same centers'
    /// history (center `j` is the same cluster in both), and two with different ones need not.
    public var lineage: UInt64
    /// Dead centers re-seeded so far.
    public var reseeds: UInt64
    /// Coinciding centers separated so far.
    public var separations: UInt64
    /// The generator every random choice draws from.
    public var random: RandomSource
    /// On a coordinator's model, the workers' epochs it includes: each worker's incarnation and
    /// the last sequence merged in it. Checkpointed with the model, so a coordinator restored
    /// from a checkpoint knows which epochs it holds and which its workers must send again.
    /// Empty on a single daemon's model.
    public var mergedEpochs = EpochLedger()
    /// How vectors are compared; part of the model (a checkpoint of one metric is never
    /// restored as the other).
    public let metric: Metric

    /// Creates a model from given centers.
    ///
    /// - Precondition: `k ≥ 1`, `dimension ≥ 1`, `centers.count == k · dimension`, all finite.
    public init(
        centers: [Float], k: Int, dimension: Int, schedule: TemperatureSchedule,
        random: RandomSource, epoch: UInt64 = 1, metric: Metric = .euclidean
    ) {
        precondition(k >= 1 && dimension >= 1, "ModelState: k and dimension must be at least 1")
        precondition(centers.count == k * dimension, "ModelState: expected \(k * dimension) center values, got \(centers.count)")
        precondition(centers.allSatisfy(\.isFinite), "ModelState: centers must be finite")
        self.k = k
        self.dimension = dimension
        self.centers = centers
        self.counts = Array(repeating: 0, count: k)
        self.seededAt = Array(repeating: 0, count: k)
        self.received = Array(repeating: 1, count: k)
        self.spreadSums = Array(repeating: 0, count: k)
        self.spreadMass = Array(repeating: 0, count: k)
        self.schedule = schedule
        self.vectorsSeen = 0
        self.scheduleClock = 0
        self.batches = 0
        self.epoch = epoch
        self.lineage = epoch
        self.reseeds = 0
        self.separations = 0
        self.random = random
        self.metric = metric
    }

    /// Makes this state equal to `other`, reusing this state's storage when the shapes agree,
    /// so a long-lived copy (a published snapshot) is refreshed without allocating.
    public mutating func assign(from other: ModelState) {
        guard k == other.k, dimension == other.dimension, metric == other.metric else {
            self = other
            return
        }
        centers.withUnsafeMutableBufferPointer { dst in
            other.centers.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        counts.withUnsafeMutableBufferPointer { dst in
            other.counts.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        seededAt.withUnsafeMutableBufferPointer { dst in
            other.seededAt.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        received.withUnsafeMutableBufferPointer { dst in
            other.received.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        spreadSums.withUnsafeMutableBufferPointer { dst in
            other.spreadSums.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        spreadMass.withUnsafeMutableBufferPointer { dst in
            other.spreadMass.withUnsafeBufferPointer { _ = dst.update(fromContentsOf: $0) }
        }
        drift = other.drift
        schedule = other.schedule
        vectorsSeen = other.vectorsSeen
        scheduleClock = other.scheduleClock
        batches = other.batches
        epoch = other.epoch
        lineage = other.lineage
        reseeds = other.reseeds
        separations = other.separations
        random = other.random
        mergedEpochs = other.mergedEpochs
    }

    /// A copy with storage of its own (not shared copy-on-write with this state), so that
    /// neither one's next mutation has to copy.
    public func detached() -> ModelState {
        var copy = self
        copy.centers.withUnsafeMutableBufferPointer { _ in }
        copy.counts.withUnsafeMutableBufferPointer { _ in }
        copy.seededAt.withUnsafeMutableBufferPointer { _ in }
        copy.received.withUnsafeMutableBufferPointer { _ in }
        copy.spreadSums.withUnsafeMutableBufferPointer { _ in }
        copy.spreadMass.withUnsafeMutableBufferPointer { _ in }
        return copy
    }

    /// The temperature the next batch will use.
    public var temperature: Double { schedule.temperature(at: scheduleClock) }

    /// Raises the temperature by `factor` (at most to the schedule's start) by moving the
    /// schedule's clock back; a constant schedule is left alone.
    public mutating func reheat(by factor: Double) {
        guard factor > 1, let target = clockPosition(scaling: factor) else { return }
        scheduleClock = Swift.max(0, target * schedule.halfLife)
    }

    /// Lowers the temperature by `factor` by moving the schedule's clock on, no further than
    /// where the schedule reaches its floor (so a later ``reheat(by:)`` still finds it there);
    /// a constant schedule is left alone.
    public mutating func cool(by factor: Double) {
        guard factor > 1, let target = clockPosition(scaling: 1 / factor),
              let atFloor = clockPosition(scaling: schedule.floor / schedule.temperature(at: scheduleClock)),
              atFloor > scheduleClock / schedule.halfLife else { return }
        scheduleClock = Swift.min(target, atFloor) * schedule.halfLife
    }

    /// Where the schedule's clock, in half-lives, would stand for the temperature (before its
    /// floor) to be `ratio` times what it is now; nil for a constant schedule.
    private func clockPosition(scaling ratio: Double) -> Double? {
        let x = scheduleClock / schedule.halfLife
        switch schedule.kind {
        case .constant: return nil
        case .exponential: return x - _log(ratio) / _log(2)
        case .inverseTime: return (1 + x) / ratio - 1
        }
    }

    /// Cluster `j`'s spread: the mean squared distance to its center of the vectors it was
    /// nearest to, forgotten like the soft counts (0 before any).
    public func spread(_ j: Int) -> Double {
        spreadMass[j] > 0 ? spreadSums[j] / spreadMass[j] : 0
    }

    /// Center `j` as a new array.
    public func center(_ j: Int) -> [Float] {
        Array(centers[j * dimension ..< (j + 1) * dimension])
    }

    /// Equality of every stored bit (floats compared by bit pattern, so `-0 ≠ 0`).
    public static func == (a: ModelState, b: ModelState) -> Bool {
        a.k == b.k && a.dimension == b.dimension
            && a.centers.elementsEqual(b.centers, by: { $0.bitPattern == $1.bitPattern })
            && a.counts.elementsEqual(b.counts, by: { $0.bitPattern == $1.bitPattern })
            && a.seededAt == b.seededAt
            && a.received.elementsEqual(b.received, by: { $0.bitPattern == $1.bitPattern })
            && a.spreadSums.elementsEqual(b.spreadSums, by: { $0.bitPattern == $1.bitPattern })
            && a.spreadMass.elementsEqual(b.spreadMass, by: { $0.bitPattern == $1.bitPattern })
            && a.drift == b.drift
            && a.schedule.kind == b.schedule.kind
            && a.schedule.initial.bitPattern == b.schedule.initial.bitPattern
            && a.schedule.floor.bitPattern == b.schedule.floor.bitPattern
            && a.schedule.halfLife.bitPattern == b.schedule.halfLife.bitPattern
            && a.vectorsSeen == b.vectorsSeen && a.scheduleClock.bitPattern == b.scheduleClock.bitPattern && a.batches == b.batches && a.epoch == b.epoch
            && a.reseeds == b.reseeds && a.separations == b.separations && a.random == b.random
            && a.metric == b.metric
    }
}
