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
    /// The temperature schedule; its position is ``weightSeen``.
    public var schedule: TemperatureSchedule
    /// Vectors applied so far.
    public var vectorsSeen: UInt64
    /// Total sample weight applied so far: the schedule's clock, so that a vector of weight w
    /// advances it as w copies would. Equal to ``vectorsSeen`` while every weight is 1.
    public var weightSeen: Double
    /// Batches applied so far: the model version.
    public var batches: UInt64
    /// Incremented each time the model is seeded anew; together with ``batches`` it names a model.
    public var epoch: UInt64
    /// Dead centers re-seeded so far.
    public var reseeds: UInt64
    /// Coinciding centers separated so far.
    public var separations: UInt64
    /// The generator every random choice draws from.
    public var random: RandomSource
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
        self.schedule = schedule
        self.vectorsSeen = 0
        self.weightSeen = 0
        self.batches = 0
        self.epoch = epoch
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
        schedule = other.schedule
        vectorsSeen = other.vectorsSeen
        weightSeen = other.weightSeen
        batches = other.batches
        epoch = other.epoch
        reseeds = other.reseeds
        separations = other.separations
        random = other.random
    }

    /// A copy with storage of its own (not shared copy-on-write with this state), so that
    /// neither one's next mutation has to copy.
    public func detached() -> ModelState {
        var copy = self
        copy.centers.withUnsafeMutableBufferPointer { _ in }
        copy.counts.withUnsafeMutableBufferPointer { _ in }
        copy.seededAt.withUnsafeMutableBufferPointer { _ in }
        return copy
    }

    /// The temperature the next batch will use.
    public var temperature: Double { schedule.temperature(at: weightSeen) }

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
            && a.schedule.kind == b.schedule.kind
            && a.schedule.initial.bitPattern == b.schedule.initial.bitPattern
            && a.schedule.floor.bitPattern == b.schedule.floor.bitPattern
            && a.schedule.halfLife.bitPattern == b.schedule.halfLife.bitPattern
            && a.vectorsSeen == b.vectorsSeen && a.weightSeen.bitPattern == b.weightSeen.bitPattern && a.batches == b.batches && a.epoch == b.epoch
            && a.reseeds == b.reseeds && a.separations == b.separations && a.random == b.random
            && a.metric == b.metric
    }
}
